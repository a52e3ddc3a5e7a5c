//! The SVG chart (plotters): grouped bars on a log scale, req/s and MB/s
//! side by side, one row per mode, with the `return 204` floor as a line.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::cells::{Cell, CellKey, CHART_CONNECTIONS, FLOOR};
use crate::options::{Kind, Opts};
use crate::report::fmt_count;

/// One panel of the chart: bars per group (size) and series (server).
pub struct Panel {
    pub title: String,
    /// The y axis' quantity.
    pub unit: &'static str,
    pub groups: Vec<String>,
    /// (server, value per group)
    pub series: Vec<(String, Vec<Option<f64>>)>,
    pub floor: Option<f64>,
}

/// The panels of the load chart: req/s and MB/s at 64 connections (or the
/// first count given), per mode.
pub fn load_panels(opts: &Opts, cells: &BTreeMap<CellKey, Cell>) -> Vec<Panel> {
    let chart_conns = if opts.connections.contains(&CHART_CONNECTIONS) {
        CHART_CONNECTIONS
    } else {
        opts.connections[0]
    };
    let mut panels = Vec::new();
    for &mode in &opts.modes {
        let pick = |kind: Kind, si: usize, f: fn(&Cell) -> Option<f64>| {
            cells
                .iter()
                .find(|(k, _)| {
                    k.mode == mode
                        && k.conns == chart_conns
                        && k.size == si
                        && k.server == kind.name()
                })
                .and_then(|(_, c)| f(c))
        };
        let panel_series = |f: fn(&Cell) -> Option<f64>| {
            opts.servers
                .iter()
                .map(|&kind| {
                    let values: Vec<Option<f64>> =
                        (0..opts.sizes.len()).map(|si| pick(kind, si, f)).collect();
                    (kind.name().to_string(), values)
                })
                .filter(|(_, v)| v.iter().any(Option::is_some))
                .collect::<Vec<_>>()
        };
        let rps = panel_series(|c| c.rps);
        if rps.is_empty() {
            continue;
        }
        let floor = cells
            .iter()
            .find(|(k, _)| k.mode == mode && k.size == FLOOR && chart_conns == CHART_CONNECTIONS)
            .and_then(|(_, c)| c.rps);
        let groups: Vec<String> = opts.sizes.iter().map(|s| s.label.clone()).collect();
        panels.push(Panel {
            title: format!("{}, {chart_conns} connections: requests/s", mode.name()),
            unit: "requests/s",
            groups: groups.clone(),
            series: rps,
            floor,
        });
        panels.push(Panel {
            title: format!("{}, {chart_conns} connections: MB/s", mode.name()),
            unit: "MB/s (10^6 bytes)",
            groups,
            series: panel_series(|c| c.mbps),
            floor: None,
        });
    }
    panels
}

fn color(name: &str) -> RGBColor {
    match name {
        "wharf" => RGBColor(0xd9, 0x5f, 0x02),
        "nginx" => RGBColor(0x1b, 0x9e, 0x77),
        "lighttpd" => RGBColor(0x75, 0x70, 0xb3),
        _ => RGBColor(0x66, 0x66, 0x66),
    }
}

/// Grouped bars on a log scale, one panel per mode, side by side.
pub fn draw(path: &Path, panels: &[Panel]) -> Result<(), Box<dyn std::error::Error>> {
    // Two panels (req/s, MB/s) per row, one row per mode.
    let rows = panels.len().div_ceil(2);
    let root = SVGBackend::new(path, (1120, 440 * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((rows, 2));
    for (area, panel) in areas.iter().zip(panels) {
        let values = panel
            .series
            .iter()
            .flat_map(|(_, v)| v.iter().flatten())
            .chain(panel.floor.iter())
            .copied()
            .filter(|v| *v > 0.0);
        let (lo, hi) = values.fold((f64::MAX, 1.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let lo = 10f64.powf(lo.min(hi).max(0.1).log10().floor());
        // Headroom above the tallest bar for the legend.
        let hi = 10f64.powf((hi * 6.0).log10().ceil());
        let n = panel.groups.len();
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..n as f64, (lo..hi).log_scale())?;
        let groups = panel.groups.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(2 * n + 1)
            .x_label_formatter(&move |x| {
                let i = (x - 0.5).round();
                if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                    groups.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(format!("{} (log scale)", panel.unit))
            .y_label_formatter(&|y| match *y {
                y if y >= 1e6 => format!("{}M", y / 1e6),
                y if y >= 1e3 => format!("{}k", y / 1e3),
                y => format!("{y}"),
            })
            .draw()?;
        let m = panel.series.len() as f64;
        let slot = 0.8 / m;
        for (j, (name, vals)) in panel.series.iter().enumerate() {
            let c = color(name);
            let bars: Vec<(f64, f64, f64)> = vals
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let x0 = i as f64 + 0.1 + j as f64 * slot;
                    v.filter(|v| *v > 0.0).map(|v| (x0, x0 + slot * 0.9, v))
                })
                .collect();
            chart
                .draw_series(
                    bars.iter()
                        .map(|&(x0, x1, v)| Rectangle::new([(x0, lo), (x1, v)], c.filled())),
                )?
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
            let style = TextStyle::from(("sans-serif", 10).into_font())
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            chart.draw_series(bars.iter().map(|&(x0, x1, v)| {
                Text::new(fmt_count(v), ((x0 + x1) / 2.0, v * 1.04), style.clone())
            }))?;
        }
        if let Some(floor) = panel.floor {
            let grey = RGBColor(0x55, 0x55, 0x55);
            chart
                .draw_series(LineSeries::new(
                    [(0.0, floor), (n as f64, floor)],
                    grey.stroke_width(1),
                ))?
                .label(format!("nginx return 204 ({})", fmt_count(floor)))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 12, y)], grey));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
    }
    root.present()?;
    Ok(())
}
