"""KFP's 6-field cron is checked before anything is sent."""

import pytest

from kubeflow.submit import KfpError, check_cron


def test_six_fields_pass_with_spacing_normalised():
    assert check_cron("0  0 6 2 * *", "kubeflow.schedule") == "0 0 6 2 * *"
    assert check_cron("0 30 4 ? * MON-FRI", "--cron") == "0 30 4 ? * MON-FRI"


def test_five_field_unix_cron_names_the_key_and_the_fix():
    with pytest.raises(KfpError) as error:
        check_cron("0 6 2 * *", "kubeflow.schedule")

    assert str(error.value) == (
        "kubeflow.schedule '0 6 2 * *' has 5 fields; KFP needs 6 (seconds minutes hours "
        "day-of-month month day-of-week), e.g. '0 0 6 2 * *'"
    )


def test_field_with_foreign_characters_is_refused():
    with pytest.raises(KfpError, match=r"--cron .*: field '6;rm' is not cron syntax"):
        check_cron("0 0 6;rm 2 * *", "--cron")
