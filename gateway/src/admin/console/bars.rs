//! The readiness page's bars, above its table, for people who would rather look than read: for
//! each unit, the share of its staff (CBCCVC) linked through VNeID at level 2 and the share with
//! a valid personal ID number. Each bar is a `<meter>` (no script, no inline style: nothing
//! asks the CSP for more) named for screen readers, with the figure as text beside it; its
//! colour says how far along the unit is (red below half, amber from half, green for everyone).

use maud::{html, Markup};
use vneid_directory::report::{Counts, ReadinessReport};

const LINKED: &str = "Đã liên kết VNeID mức 2";
const VALID: &str = "Có số định danh hợp lệ";

/// `part` of `whole` in whole percent, rounded down: 100 % only when everyone is there.
fn percent(part: u64, whole: u64) -> u64 {
    match whole {
        0 => 0,
        _ => part.min(whole) * 100 / whole,
    }
}

/// One bar of `unit`: what it measures, the meter, and the figure as text.
fn bar(unit: &str, what: &str, part: u64, whole: u64) -> Markup {
    let pct = percent(part, whole);
    let figure = format!("{part}/{whole} ({pct}%)");
    // The meter's colour (optimum above `high`): everyone is green, half or more amber, fewer
    // red. Counts are whole numbers, so `whole - 0.5` separates "all" from "all but one".
    let low = whole as f64 / 2.0;
    let high = whole as f64 - 0.5;
    html! {
        div.bar {
            span.what aria-hidden="true" { (what) }
            meter min="0" max=(whole) value=(part) low=(low) high=(high) optimum=(whole)
                aria-label={ (unit) ": " (what) ", " (part) " trên " (whole) " CBCCVC (" (pct) "%)" } {
                (figure)
            }
            span.figure aria-hidden="true" { (figure) }
        }
    }
}

/// A unit's name and its two bars (none for a unit without staff).
fn unit(name: &str, c: &Counts) -> Markup {
    html! {
        span.unit { (name) }
        @if c.staff == 0 {
            " " span.muted { "· không có CBCCVC" }
        } @else {
            (bar(name, LINKED, c.staff_linked, c.staff))
            (bar(name, VALID, c.staff_valid_personal_id, c.staff))
        }
    }
}

/// The bars of every unit, then of all units together.
pub fn render(r: &ReadinessReport) -> Markup {
    html! {
        section aria-labelledby="bars-title" {
            h2 #bars-title { "Tỷ lệ sẵn sàng của từng đơn vị" }
            p.muted {
                "Trên tổng số cán bộ, công chức, viên chức (CBCCVC) của đơn vị: tỷ lệ đã liên kết \
                 tài khoản VNeID mức độ 2 và tỷ lệ có số định danh cá nhân hợp lệ."
            }
            ul.bars {
                @for u in &r.units {
                    li data-unit=(u.unit_code) {
                        (unit(&format!("{} — {}", u.unit_code, u.unit_name), &u.counts))
                    }
                }
                li.total data-unit="" { (unit("Tổng cộng", &r.totals)) }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_down_so_that_100_means_everyone() {
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(1, 2), 50);
        assert_eq!(percent(2, 3), 66);
        assert_eq!(percent(199, 200), 99);
        assert_eq!(percent(200, 200), 100);
        assert_eq!(percent(3, 2), 100);
    }

    #[test]
    fn a_bar_is_a_named_meter_with_its_figure_and_escapes_the_unit() {
        let html = bar("<b>P01</b>", LINKED, 1, 3).into_string();
        assert!(
            html.contains(
                "<meter min=\"0\" max=\"3\" value=\"1\" low=\"1.5\" high=\"2.5\" optimum=\"3\" \
aria-label=\"&lt;b&gt;P01&lt;/b&gt;: Đã liên kết VNeID mức 2, 1 trên 3 CBCCVC (33%)\">1/3 (33%)</meter>"
            ),
            "{html}"
        );
        assert!(html.contains("<span class=\"figure\" aria-hidden=\"true\">1/3 (33%)</span>"));
        assert!(!html.contains("style="), "{html}");
    }

    #[test]
    fn a_unit_without_staff_has_no_bar() {
        let html = unit("CONGDAN — Công dân", &Counts::default()).into_string();
        assert!(html.contains("không có CBCCVC"), "{html}");
        assert!(!html.contains("<meter"), "{html}");
    }
}
