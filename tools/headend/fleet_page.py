"""The fleet report as text (80 columns), CSV and a self-contained HTML page (inline CSS
and SVG charts drawn by matplotlib: one file to mail or archive, nothing fetched)."""
import csv
import html
import io
from datetime import datetime, timezone

COLUMNS = ("meter", "meter_id", "policy_version", "policy_fingerprint", "break_glass",
           "operator_link", "readings_consent", "firmware", "firmware_signed_by",
           "metering_module", "metering_check", "keys_since_s", "key_rotation_pending",
           "chain_unbroken_since_s", "chain_problems", "last_contact_s", "forgeries",
           "commands")
FIGURES = (("on_current_policy_pct", "on the current policy"),
           ("chain_unbroken_pct", "audit chain unbroken"),
           ("break_glass_off_pct", "break-glass off"),
           ("operator_link_on_pct", "operator link on"),
           ("readings_consent_pct", "consent to frequent readings"))


def utc(seconds):
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M")


def _yes(value):
    return "-" if value is None else ("yes" if value else "no")


def text(rep):
    f = rep["figures"]
    lines = ["FLEET SOVEREIGNTY REPORT  %s UTC" % utc(rep["now_s"]),
             "%d meters, %d heard from; current policy v%s %s" % (
                 f["meters"], f["heard_from"], f["current_policy"]["version"],
                 f["current_policy"]["fingerprint"] or "-")]
    for key, label in FIGURES:
        lines.append("  %-32s %s" % (label, "-" if f[key] is None else "%.1f %%" % f[key]))
    lines.append("  %-32s %s" % ("metering module ids", " ".join(f["metering_module_ids"])
                                 or "-"))
    lines.append("  %-32s %s" % ("board driver ids", " ".join(f["board_driver_ids"]) or "-"))
    lines.append("  %-32s %s" % ("oldest keys (days)", "-" if f["key_age_days_max"] is None
                                 else f["key_age_days_max"]))
    for r in rep["meters"]:
        lines += ["", "meter %s (%s)" % (r["meter"], r["meter_id"] or "id unknown"),
                  "  policy v%s %s; break-glass %s; link %s; consent %s" % (
                      r["policy_version"] if r["policy_version"] is not None else "-",
                      r["policy_fingerprint"] or "-", _yes(r["break_glass"]),
                      r["operator_link"] or "-", _yes(r["readings_consent"])),
                  "  firmware %s signed by %s" % (r["firmware"] or "-",
                                                 r["firmware_signed_by"] or "-"),
                  "  metering module %s (%s)" % (r["metering_module"] or "-",
                                                 r["metering_check"] or "-"),
                  "  board drivers %s (%s)" % (r["board_drivers"] or "-",
                                               r["drivers_check"] or "-"),
                  "  keys since %s%s; chain unbroken since %s (%d problems)" % (
                      utc(r["keys_since_s"]), ", rotation pending"
                      if r["key_rotation_pending"] else "", utc(r["chain_unbroken_since_s"]),
                      r["chain_problems"]),
                  "  last contact %s; forgeries %d" % (utc(r["last_contact_s"]),
                                                       r["forgeries"] or 0),
                  "  commands: %s" % r["commands"]]
    return "\n".join(line[:80] for line in lines)


def csv_text(rep):
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(COLUMNS)
    for r in rep["meters"]:
        w.writerow(["" if r[c] is None else r[c] for c in COLUMNS])
    return out.getvalue()


def _svg(fig):
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]  # inline: no XML prologue inside HTML


def figures_chart(rep):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = rep["figures"]
    labels = [label for key, label in FIGURES]
    values = [f[key] or 0.0 for key, _label in FIGURES]
    fig, ax = plt.subplots(figsize=(7, 2.6))
    ax.barh(labels[::-1], values[::-1], color="#1f77b4")
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of meters heard from")
    return _svg(fig)


def readings_chart(rep, readings):
    """readings: {title: [(seq, end_s, i1, i2, e1, e2, status)]}: energy per quarter-hour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.6))
    for title, rows in sorted(readings.items())[:10]:
        rows = rows[-96:]
        points = [(b[1], (b[2] + b[3] - a[2] - a[3]) / 1000.0)
                  for a, b in zip(rows, rows[1:]) if b[0] == a[0] + 1]
        if points:
            ax.plot([datetime.fromtimestamp(t, timezone.utc) for t, _ in points],
                    [kwh for _, kwh in points], label=title, color="#d62728")
    ax.set_ylabel("kWh per quarter-hour")
    ax.tick_params(axis="x", labelrotation=30)
    if readings:
        ax.legend(fontsize="small")
    return _svg(fig)


def html_page(rep, readings):
    esc = html.escape
    f = rep["figures"]
    rows = "".join(
        "<tr>%s</tr>" % "".join("<td>%s</td>" % esc(str(_cell(r, c))) for c in COLUMNS)
        for r in rep["meters"])
    figs = "".join("<tr><th>%s</th><td>%s</td></tr>" % (
        esc(label), "-" if f[key] is None else "%.1f %%" % f[key]) for key, label in FIGURES)
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Fleet sovereignty report</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; background: #fff; }}
table {{ border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #bbb; padding: 2px 6px; text-align: left; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 16px; }}
</style></head><body>
<h1>Fleet sovereignty report</h1>
<p>{when} UTC &middot; {meters} meters, {heard} heard from &middot; current policy
v{version} {fingerprint}</p>
<h2>Who controls the fleet</h2>
<table id="figures">{figs}</table>
<div id="figures-chart">{chart}</div>
<h2>Readings</h2>
<div id="readings-chart">{readings_chart}</div>
<h2>Meters</h2>
<table id="meters"><tr>{head}</tr>{rows}</table>
</body></html>
""".format(when=esc(utc(rep["now_s"])), meters=f["meters"], heard=f["heard_from"],
           version=esc(str(f["current_policy"]["version"])),
           fingerprint=esc(f["current_policy"]["fingerprint"] or "-"), figs=figs,
           chart=figures_chart(rep), readings_chart=readings_chart(rep, readings),
           head="".join("<th>%s</th>" % esc(c) for c in COLUMNS), rows=rows)


def _cell(r, column):
    value = r[column]
    if column.endswith("_s"):
        return utc(value)
    if value is None:
        return "-"
    return value
