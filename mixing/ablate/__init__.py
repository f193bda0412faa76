"""`winnow ablate`: which data variant is better, answered with paired proxy models and an honest verdict."""
