//! The drill table: one row per scenario, written as JSON (every figure) and as
//! Markdown (the columns a reader compares).

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::check::{Verdict, Window};
use crate::gateway::Counters;

/// Where the table goes, besides stdout.
#[derive(Args, Clone)]
pub struct Output {
    /// Every figure of every scenario, as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The table, as Markdown.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub hypothesis: String,
    pub passed: bool,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub window: Window,
    /// Fault to the moment every client had given up on a stalled path.
    pub detect_s: Option<f64>,
    pub duration_s: f64,
    pub counters_before: Counters,
    pub counters_after: Counters,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `local` or `remote`.
    pub mode: String,
    /// What the run was configured with (topology, discovery, rate, durations).
    pub setup: Vec<String>,
    pub scenarios: Vec<ScenarioResult>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.scenarios.iter().all(|s| s.passed)
    }

    pub fn write(&self, output: &Output) -> anyhow::Result<()> {
        if let Some(path) = &output.json {
            std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")?;
        }
        if let Some(path) = &output.markdown {
            std::fs::write(path, self.markdown())?;
        }
        Ok(())
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# tasklane drill ({})\n", self.mode);
        for line in &self.setup {
            let _ = writeln!(out, "- {line}");
        }
        let _ = writeln!(
            out,
            "\n| scenario | result | accepted | lost | counted twice | acknowledged outcomes lost (RPO) | \
             wrong status | uncounted | 503s after fault | no answer | RTO s | after heal s | detect s |"
        );
        let _ = writeln!(
            out,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for s in &self.scenarios {
            let v = &s.verdict;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.name,
                if s.passed { "pass" } else { "**FAIL**" },
                v.accepted,
                v.lost,
                v.counted_twice,
                v.acknowledged_outcomes_lost,
                v.wrong_status,
                v.uncounted,
                v.unavailable_503_after_fault,
                v.no_answer_total,
                seconds(v.rto_s),
                seconds(v.recovery_after_heal_s),
                seconds(s.detect_s),
            );
        }
        let failing: Vec<_> = self.scenarios.iter().filter(|s| !s.passed).collect();
        if !failing.is_empty() {
            let _ = writeln!(out, "\n## Failures\n");
            for s in failing {
                let _ = writeln!(out, "- **{}**: {}", s.name, s.verdict.failures.join("; "));
            }
        }
        let _ = writeln!(out, "\n## Notes\n");
        for s in &self.scenarios {
            let _ = writeln!(out, "- **{}**: {}", s.name, s.hypothesis);
            for note in &s.notes {
                let _ = writeln!(out, "  - {note}");
            }
        }
        out
    }
}

fn seconds(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), |s| format!("{s:.1}"))
}
