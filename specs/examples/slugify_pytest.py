# A pytest file for `expect code python { pytest = file("slugify_pytest.py") }`: the model's code
# is importable as the module `solution`.
from solution import slugify


def test_spaces_become_dashes():
    assert slugify("Hello World") == "hello-world"


def test_punctuation_is_dropped():
    assert slugify("Ready, set... go!") == "ready-set-go"


def test_no_leading_or_trailing_dash():
    assert slugify("  --Trim me--  ") == "trim-me"
