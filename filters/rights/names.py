"""Column names, drop reasons and evidence keys of the rights stages, in one place so they never drift."""

# license_detect fills the schema's own columns (schema.LICENSE, schema.LICENSE_EVIDENCE).
LICENSE_DETECT = "license_detect"

OPTOUT = "optout"
OPTOUT_COLUMN = "optout"  # bool: some signal reserves the document against AI use
OPTOUT_SIGNALS = "optout_signals"  # comma-separated signal kinds that fired: robots, tdmrep, noai
OPTOUT_EVIDENCE = "optout_evidence"  # JSON: every signal consulted, what it said and where it came from

# The metadata key under which pdf_extract records a PDF's rights fields (ocr.codes.META_RIGHTS).
META_PDF_RIGHTS = "pdf_rights"

RIGHTS_POLICY = "rights_policy"
RIGHTS_POLICY_STATUS = "rights_policy_status"

# Opt-out signal kinds; the policy drops with f"rights_policy_optout_{kind}".
SIGNAL_ROBOTS = "robots"
SIGNAL_TDMREP = "tdmrep"
SIGNAL_NOAI = "noai"
SIGNALS = (SIGNAL_ROBOTS, SIGNAL_TDMREP, SIGNAL_NOAI)

POLICY_OPTOUT = {kind: f"rights_policy_optout_{kind}" for kind in SIGNALS}
POLICY_LICENSE_NOT_ALLOWED = "rights_policy_license_not_allowed"
POLICY_LICENSE_UNKNOWN = "rights_policy_license_unknown"

# Evidence methods for a licence, strongest first: the first method that finds a licence decides.
METHOD_REL_LICENSE = "rel_license"  # <a|link rel="license" href="creativecommons.org/...">
METHOD_REL_LICENSE_NAMED = "rel_license_named"  # rel=license to another page, naming a CC licence
METHOD_JSON_LD = "json_ld"  # schema.org "license" in a JSON-LD block
METHOD_META = "meta"  # <meta name="dc.rights|dcterms.license|license|...">
METHOD_PDF = "pdf_rights"  # XMP / document-information rights fields of a PDF
METHOD_CC_LINK = "cc_link"  # a plain link to a creativecommons.org licence, without rel=license
METHOD_FIELD = "input_field"  # a licence the input record already carried
METHOD_ORDER = (METHOD_REL_LICENSE, METHOD_REL_LICENSE_NAMED, METHOD_JSON_LD, METHOD_META, METHOD_PDF, METHOD_CC_LINK)
