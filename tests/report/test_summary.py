from econalign.report.summary import check_targets, manuscript_usage


def test_manuscript_usage_finds_macros_tables_and_figures_outside_comments():
    tex = "\n".join(
        [
            r"\newcommand{\Rate}{\EAEvaluateBaseRate} and \EAConfigSeed",
            r"\resulttable{games_agreement}{caption} \resultfigure[0.5\linewidth]{games_plot}{c}",
            r"% \resulttable{commented_out}{c} \EACommented",
            r"50\% of \EAAfterEscapedPercent",
        ]
    )
    usage = manuscript_usage(tex)
    assert usage.macros == ("EAAfterEscapedPercent", "EAConfigSeed", "EAEvaluateBaseRate")
    assert usage.tables == ("games_agreement",)
    assert usage.figures == ("games_plot",)


def test_check_targets_reports_met_missed_and_not_measured():
    numbers = {"a": 0.9, "b": 0.2, "base": 0.5, "flag": True, "text": "x"}
    targets = [
        {"metric": "a", "min": 0.8, "max": 1.0},
        {"metric": "b", "above": "base", "description": "beats base"},
        {"metric": "a", "below": "missing"},
        {"metric": "nowhere", "min": 0},
        {"metric": "text", "min": 0},
        {"metric": "flag", "equals": True},
        {"metric": "flag", "equals": False},
    ]
    checks = check_targets(targets, numbers)
    assert [c.status for c in checks] == [
        "met",
        "missed",
        "not measured",
        "not measured",
        "not measured",
        "met",
        "missed",
    ]
    assert checks[0].requirement == ">= 0.8 and <= 1.0"
    assert checks[1].requirement == "> base" and checks[1].description == "beats base"
    assert checks[1].value == 0.2


def test_estimates_with_intervals_must_lie_apart():
    def estimate(path, value, low, high):
        return {f"{path}/estimate": value, f"{path}/low": low, f"{path}/high": high}

    numbers = {
        **estimate("tuned", 0.57, 0.51, 0.64),  # above base's estimate, inside its interval
        **estimate("base", 0.50, 0.44, 0.56),
        **estimate("far", 0.70, 0.60, 0.80),
        **estimate("low", 0.30, 0.20, 0.40),
        "plain": 0.45,
    }
    targets = [
        {"metric": "tuned/estimate", "above": "base/estimate"},
        {"metric": "far/estimate", "above": "base/estimate"},
        {"metric": "low/estimate", "below": "base/estimate"},
        {"metric": "tuned/estimate", "below": "far/estimate"},
        {"metric": "tuned/estimate", "above": "plain"},  # no interval on the reference: the numbers decide
    ]
    checks = check_targets(targets, numbers)
    assert [c.status for c in checks] == ["missed", "met", "met", "missed", "met"]
    assert checks[0].requirement == "> base/estimate (intervals apart)"
    assert checks[4].requirement == "> plain"
