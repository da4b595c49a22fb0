from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minorch.errors import TemplateError
from minorch.templates import build_context, check, render

# 23:30 UTC on the 14th is 00:30 on the 15th in Berlin (UTC+1 in winter).
LOGICAL = datetime(2024, 1, 14, 23, 30, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def make_context(**changes) -> dict:
    values = {
        "dag_id": "etl",
        "task_id": "load",
        "run_id": "scheduled__2024-01-15",
        "logical_date": LOGICAL,
        "data_interval_start": LOGICAL - DAY,
        "data_interval_end": LOGICAL,
        "prev_logical_date": LOGICAL - DAY,
        "next_logical_date": LOGICAL + DAY,
        "params": {"name": "orders", "flags": "-l -a"},
        "try_number": 2,
        "timezone": "Europe/Berlin",
        "xcom": {"extract_orders": [1, 2, 3]},
    }
    values.update(changes)
    return build_context(**values)


def plain(template: str, **changes) -> str:
    return render(template, make_context(**changes), shell=False)


def test_dates_are_given_in_the_dags_timezone():
    assert plain("{{ ds }} {{ ds_nodash }}") == "2024-01-15 20240115"
    assert plain("{{ ts }} {{ ts_nodash }}") == "2024-01-15T00:30:00+01:00 20240115T003000"


def test_dates_follow_daylight_saving_time():
    summer = datetime(2024, 7, 1, 6, 0, tzinfo=timezone.utc)
    assert plain("{{ ts }}", logical_date=summer) == "2024-07-01T08:00:00+02:00"


def test_datetimes_render_as_iso_8601_and_keep_their_methods():
    assert (
        plain("{{ data_interval_start }} {{ data_interval_end }}")
        == "2024-01-14T00:30:00+01:00 2024-01-15T00:30:00+01:00"
    )
    assert plain("{{ logical_date.strftime('%H:%M') }}") == "00:30"


def test_neighbouring_dates_are_given_and_none_when_unknown():
    assert plain("{{ prev_ds }} {{ next_ds }}") == "2024-01-14 2024-01-16"
    assert plain("{{ prev_ds }}", prev_logical_date=None) == "None"
    assert plain("{% if next_ds %}more{% else %}last{% endif %}", next_logical_date=None) == "last"


def test_run_and_task_names_are_given():
    assert (
        plain("{{ dag_id }}/{{ task_id }}/{{ run_id }}/{{ try_number }}/{{ timezone }}")
        == "etl/load/scheduled__2024-01-15/2/Europe/Berlin"
    )


def test_params_are_reached_by_dot_or_by_key():
    assert plain("{{ params.name }} {{ params['flags'] }}") == "orders -l -a"


def test_macros_add_days_and_reformat_dates():
    assert plain("{{ macros.ds_add(ds, 17) }} {{ macros.ds_add(ds, -15) }}") == "2024-02-01 2023-12-31"
    assert plain("{{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%y') }}") == "15/01/24"


def test_xcom_results_are_reached_by_dot_or_by_key_and_lists_render_as_json():
    assert plain("{{ xcom.extract_orders }} {{ xcom['extract_orders'][0] }}") == "[1, 2, 3] 1"


def test_an_upstream_task_named_like_a_dict_method_wins_over_the_method():
    assert plain("{{ xcom.items }} {{ xcom.values }}", xcom={"items": 7, "values": [1]}) == "7 [1]"


def test_shell_mode_quotes_values_that_are_not_safe():
    context = make_context(params={"name": "a b; rm -rf /"})
    assert render("echo {{ params.name }}", context, shell=True) == "echo 'a b; rm -rf /'"


def test_shell_mode_leaves_safe_values_and_the_command_itself_bare():
    context = make_context()
    assert render("ls -l /data/{{ ds }} | wc -l", context, shell=True) == "ls -l /data/2024-01-15 | wc -l"
    assert render("load --at {{ ts }}", context, shell=True) == "load --at 2024-01-15T00:30:00+01:00"


def test_shell_mode_quotes_json_and_quotes_within_values():
    context = make_context(params={"name": "it's"})
    assert render("echo {{ xcom.extract_orders }}", context, shell=True) == "echo '[1, 2, 3]'"
    assert render("echo {{ params.name }}", context, shell=True) == "echo 'it'\"'\"'s'"


def test_the_raw_filter_pastes_a_trusted_value_unquoted():
    context = make_context()
    assert render("ls {{ params.flags | raw }}", context, shell=True) == "ls -l -a"
    assert render("ls {{ params.flags | raw }}", context, shell=False) == "ls -l -a"


def test_a_value_built_from_a_raw_value_is_quoted_again():
    context = make_context()
    assert render("ls {{ params.flags | raw ~ ' x' }}", context, shell=True) == "ls '-l -a x'"


def test_a_trailing_newline_is_kept():
    assert plain("echo {{ ds }}\n") == "echo 2024-01-15\n"


def test_an_unknown_name_names_the_line_and_suggests_the_closest():
    with pytest.raises(TemplateError) as caught:
        plain("echo {{ dss }}")
    assert caught.value.message == "unknown template variable 'dss' in line 1: echo {{ dss }}"
    assert caught.value.hint == "did you mean 'ds'?"


def test_an_unknown_name_in_a_condition_is_an_error_not_false():
    with pytest.raises(TemplateError, match="unknown template variable 'dbg' in line 2"):
        plain("x\n{% if dbg %}y{% endif %}")


def test_an_unknown_param_names_the_key_and_suggests_the_closest():
    with pytest.raises(TemplateError) as caught:
        plain("set -e\necho {{ params.nmae }}")
    assert caught.value.message == "unknown template variable 'params.nmae' in line 2: echo {{ params.nmae }}"
    assert caught.value.hint == "did you mean 'name'?"


def test_an_unknown_xcom_lists_the_upstream_results():
    with pytest.raises(TemplateError) as caught:
        plain("echo {{ xcom.load }}")
    assert caught.value.hint == "xcom holds the results of upstream tasks: extract_orders"


def test_where_prefixes_the_message():
    with pytest.raises(TemplateError) as caught:
        render("echo {{ dss }}", make_context(), shell=True, where="dags/etl.toml: task 'load'")
    assert str(caught.value) == (
        "dags/etl.toml: task 'load': unknown template variable 'dss' in line 1: echo {{ dss }} (did you mean 'ds'?)"
    )


def test_a_syntax_error_names_the_line_and_its_text():
    with pytest.raises(TemplateError) as caught:
        plain("set -e\necho {{ ds }\n")
    assert caught.value.message == "cannot parse template in line 2: echo {{ ds }"
    assert caught.value.hint == "unexpected '}'"


def test_a_failing_expression_names_the_line_and_the_error():
    with pytest.raises(TemplateError) as caught:
        plain("a\nb\n{{ macros.ds_add(ds, 'x') }}")
    assert caught.value.message == "template failed in line 3: {{ macros.ds_add(ds, 'x') }}"
    assert caught.value.hint.startswith("TypeError")


def test_the_sandbox_refuses_private_attributes():
    with pytest.raises(TemplateError, match="template failed in line 1"):
        plain("{{ ds.__class__.__mro__ }}")


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        make_context(logical_date=datetime(2024, 1, 15))


def test_rendering_the_same_template_twice_gives_the_same_text():
    context = make_context()
    assert render("echo {{ ds }}", context, shell=True) == render("echo {{ ds }}", context, shell=True)


def test_check_accepts_known_names_local_variables_and_jinja_globals():
    check("{% set day = ds %}{% for i in range(3) %}{{ day }}{{ params.anything }}{{ i }}{% endfor %}")
    check("{{ xcom.extract | raw }} {{ macros.ds_add(ds, 1) }} {{ data_interval_end }}")


def test_check_finds_an_unknown_name_with_its_line_and_a_hint():
    with pytest.raises(TemplateError) as caught:
        check("echo {{ ds }}\necho {{ ds_nodahs }}", where="dags/etl.toml")
    assert str(caught.value) == (
        "dags/etl.toml: unknown template variable 'ds_nodahs' in line 2: "
        "echo {{ ds_nodahs }} (did you mean 'ds_nodash'?)"
    )


def test_check_finds_syntax_errors_and_unknown_filters():
    with pytest.raises(TemplateError, match="cannot parse template in line 1"):
        check("{% if ds %}")
    with pytest.raises(TemplateError, match="No filter named 'rwa'"):
        check("{{ ds | rwa }}")


PLAIN_CASES = {
    "{{ ds }}": True,
    "echo {{ds}} {{ params.table }} {{ dag_run.conf.x }}": True,
    "no markup at all { } }}": True,
    "{{ item }}-{{ map_index }}": True,  # a mapped task's extra names
    "{{ nope }}": False,  # unknown: Jinja says so, with the hint
    "{{{ ds }}": False,  # Jinja reads `{ ds }` as a dict: a syntax error
    "{{ ds }": False,
    "{{- ds }}": False,
    "{{ ds | upper }}": False,
    "{{ true }}": False,
    "{% if ds %}x{% endif %}": False,
    "{# note #}{{ ds }}": False,
    "{{ ds }}{{ ds ~ 'x' }}": False,
}


@pytest.mark.parametrize("template,plain", PLAIN_CASES.items())
def test_a_plain_template_of_known_names_is_passed_without_jinja_and_anything_else_goes_to_jinja(template, plain):
    from minorch.context import CONTEXT_NAMES
    from minorch.validate import plainly_known

    assert plainly_known(template, CONTEXT_NAMES | {"item", "map_index"}) is plain


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["{{", "}}", "{", "}", " ", "ds", "nope", ".", "x", "{%", "|", "-", "\n"]), max_size=12)
)
def test_what_passes_without_jinja_jinja_accepts_too(pieces):
    from minorch.context import CONTEXT_NAMES
    from minorch.validate import plainly_known

    template = "".join(pieces)
    if plainly_known(template, CONTEXT_NAMES):
        check(template)  # raises TemplateError if Jinja disagrees


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(["{", "}", "#", "%", " ", "a", "'", "\n", "\r", "\t", "é", "$"]), max_size=16))
@example("{{a}}")
def test_text_rendered_without_jinja_is_what_jinja_makes_of_it(text):
    """Text with no template syntax is returned as it is; Jinja, asked directly, agrees, and where Jinja
    refuses the text (bad syntax, or a name the context lacks, as in ``{{a}}``), so does `render`."""
    from minorch import jinja_env

    for shell in (False, True):
        try:
            expected = jinja_env.compiled(text, shell).render(make_context())
        except (jinja_env.TemplateSyntaxError, jinja_env.Missing):
            with pytest.raises(TemplateError):
                render(text, make_context(), shell=shell)
            continue
        assert render(text, make_context(), shell=shell) == expected


def test_a_process_that_renders_only_plain_text_does_not_import_jinja():
    import subprocess
    import sys

    code = (
        "import sys; from minorch.templates import render, check; check('echo hi'); "
        "assert render('echo hi {x}', {}, shell=True) == 'echo hi {x}'; print('jinja2' in sys.modules); "
        "assert render('echo {{ ds }}', {'ds': '2024-01-15'}, shell=True) == 'echo 2024-01-15'; "
        "print('jinja2' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
