"""``--format junit``: JUnit XML, for CI systems that show test reports (GitLab, Jenkins, Azure).

One test suite per group (an environment, the findings across environments, or the errors of an
invalid contract). Each finding is a test case: a failing one (an error, a gap, a warning with
--strict) fails it; a warning or note that does not fail passes, its text in ``system-out``. Each
environment also has a ``verdict`` case, so a ready environment is one passing test, not none.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from frontdoor.report.outcome import ACROSS, CONTRACT, Group, Judged, Outcome

# characters XML 1.0 cannot carry at all, even escaped (a pasted control character in a value)
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _case(suite: ET.Element, group: Group, judged: Judged) -> None:
    finding = judged.finding
    where = f" at {finding.where}" if finding.where else ""
    case = ET.SubElement(
        suite, "testcase", classname=_text(f"frontdoor.{group.name}"), name=_text(f"{finding.rule}{where}")
    )
    if finding.where is not None:
        case.set("file", _text(finding.where.file))
        case.set("line", str(finding.where.line))
    text = _text(finding.render())
    if judged.failing:
        kind = "error" if finding.severity == "error" else "failure"
        element = ET.SubElement(case, kind, message=text, type=_text(finding.rule))
        element.text = text
    else:
        ET.SubElement(case, "system-out").text = f"{finding.severity}: {text}"


def check_junit(result: Outcome, title: str = "frontdoor check") -> str:
    """``title`` names the run: ``frontdoor check``, or ``frontdoor verify`` over the same boundary."""
    suites = ET.Element("testsuites", name=title)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for group in result.groups:
        suite = ET.SubElement(suites, "testsuite", name=_text(f"{title}: {group.name}"))
        for judged in group.findings:
            _case(suite, group, judged)
        if group.name not in (CONTRACT, ACROSS):
            verdict = ET.SubElement(
                suite, "testcase", classname=_text(f"frontdoor.{group.name}"), name="verdict"
            )
            if group.failing:
                message = f"{len(group.failing)} finding(s) fail {group.name}"
                ET.SubElement(verdict, "failure", message=_text(message), type="verdict").text = message
        counts = {
            "tests": len(suite.findall("testcase")),
            "failures": len(suite.findall("testcase/failure")),
            "errors": len(suite.findall("testcase/error")),
        }
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        suites.set(key, str(value))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
