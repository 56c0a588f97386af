from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from feedback.calibration import CalibrationError, confidence_calibrate


class Command(BaseCommand):
    help = "Fit the high/low confidence thresholds to the recorded ratings and print a reliability table."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="print the result without storing it")

    def handle(self, *args, dry_run: bool, **options) -> None:
        try:
            calibration = confidence_calibrate(dry_run=dry_run)
        except CalibrationError as exc:
            raise CommandError(str(exc)) from exc
        report = calibration.report()
        lines = [f"{report['samples']} rated answers", "", "Reliability (confidence bin: answers, share rated up)"]
        lines += [f"  {row['bin']}  {row['count']:>6}  {_share(row['up_share'])}" for row in report["reliability"]]
        for title, table, thresholds in (
            ("Before", report["before"], report["previous"]),
            ("After", report["after"], report),
        ):
            lines += ["", f"{title}: high ≥ {thresholds['high']:.3f}, low < {thresholds['low']:.3f}"]
            lines += [f"  {row['label']:<7} {row['count']:>6}  {_share(row['up_share'])}" for row in table]
        lines += ["", *report["notes"]] if report["notes"] else []
        lines.append("Dry run: nothing stored." if dry_run else "Stored: answers now use these thresholds.")
        self.stdout.write("\n".join(lines))


def _share(value: float | None) -> str:
    return "   —" if value is None else f"{value:6.1%} up"
