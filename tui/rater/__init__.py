"""The rater mode: only a rater's sessions, the Arena and the rubric, in a terminal or a browser tab."""
