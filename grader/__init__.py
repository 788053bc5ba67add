"""Autograder for the deep-learning homework: build the assignment, grade submissions safely."""
