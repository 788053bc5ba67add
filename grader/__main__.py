from grader.cli import app

if __name__ == "__main__":  # worker processes import this module too
    app(prog_name="python -m grader")
