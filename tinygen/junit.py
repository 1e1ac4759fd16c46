"""`tinygen verify --junit FILE`: the verify report as JUnit XML, one testcase per check, so a CI system
(GitHub Actions, GitLab, Jenkins) lists every check and says which failed and why.

The shape is the common JUnit one (Ant / Jenkins): <testsuites> holding one <testsuite> with <properties>
(the report's numbers), a <testcase> per check (a failed check carries <failure message="CHECK: detail">)
and <system-out> (what verify printed). A verify that could not run (bad input, a compiler missing, C that
does not build) is one testcase with an <error>, so the CI still shows why.
"""
from __future__ import annotations

import datetime
import re
import xml.etree.ElementTree as ET


# XML 1.0 forbids most control characters, even escaped; compiler output can hold them
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value) -> str:
    return _NOT_XML.sub("?", str(value))


def _suite(name: str, cases: list[ET.Element], properties: dict, output: str) -> ET.Element:
    failures = sum(case.find("failure") is not None for case in cases)
    errors = sum(case.find("error") is not None for case in cases)
    seconds = sum(float(case.get("time", "0")) for case in cases)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    suites = ET.Element("testsuites", name="tinygen verify", tests=str(len(cases)), failures=str(failures),
                        errors=str(errors), time=f"{seconds:.3f}")
    suite = ET.SubElement(suites, "testsuite", name=_text(name), tests=str(len(cases)), failures=str(failures),
                          errors=str(errors), skipped="0", time=f"{seconds:.3f}", timestamp=stamp)
    if properties:
        props = ET.SubElement(suite, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=_text(key), value=_text("" if value is None else value))
    suite.extend(cases)
    ET.SubElement(suite, "system-out").text = _text(output)
    return suites


def _case(name: str, classname: str, seconds: float) -> ET.Element:
    return ET.Element("testcase", name=_text(name), classname=_text(classname), time=f"{max(seconds, 0.0):.3f}")


def _xml(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def report_xml(report: dict, suite_name: str, classname: str, output: str = "") -> str:
    """JUnit XML of a verify report: one testcase per check, the report's metrics and per-target costs as
    properties."""
    cases = []
    for check in report["checks"]:
        case = _case(check["name"], classname, check.get("seconds", 0.0))
        if not check["passed"]:
            failure = ET.SubElement(case, "failure", message=_text(f"{check['name']}: {check['detail']}"),
                                    type="tinygen.CheckFailed")
            failure.text = _text(f"check failed: {check['name']}\n{check['detail']}")
        cases.append(case)
    properties = {key: report.get(key) for key in ("model", "dtype", "rows", "metric_name", "float_metric",
                                                   "fixed_metric", "accuracy_drop", "max_accuracy_drop", "agreement")}
    # present only where they apply: --min-accuracy, labels the model does not know, exact mode's explained rows
    properties.update({key: report[key] for key in ("min_accuracy", "unknown_label_rows", "exact_ties",
                                                    "float32_input_disagreements") if key in report})
    for target, result in report["targets"].items():
        for key in ("mismatches", "flash_bytes", "ram_bytes", "stack_bytes", "cycles_per_inference", "cycles_unit"):
            properties[f"{target}.{key}"] = result.get(key)
        if "error" in result:  # the target's check failed without running (its failure message says the same)
            properties[f"{target}.error"] = result["error"]
    return _xml(_suite(suite_name, cases, properties, output))


def error_xml(suite_name: str, classname: str, message: str) -> str:
    """JUnit XML of a verify that could not run: one testcase carrying the error."""
    case = _case("tinygen verify", classname, 0.0)
    ET.SubElement(case, "error", message=_text(message), type="tinygen.Error").text = _text(message)
    return _xml(_suite(suite_name, [case], {}, f"error: {message}\n"))
