from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 2

@test_case(points=0, hidden=False)
def test_q3_graded_by_hand():
    print('Question 3 is graded by hand from your PDF: no automatic check.')

