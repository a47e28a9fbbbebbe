//! CPU time: the whole machine's (`/proc/stat`), the measured processes' (`/proc/<pid>/stat`),
//! and the load average (`/proc/loadavg`).
//!
//! All counters are in clock ticks (`USER_HZ`, 100 per second on Linux). The figures derived from
//! two readings never need that constant: shares are ratios of ticks, and cores are the ticks
//! used divided by the ticks that one CPU spent in the same interval (`total / cpus`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result, files};

/// The aggregate `cpu` line of `/proc/stat`: ticks since boot spent by all CPUs together in each
/// state (`guest` time is already inside `user`, so it is not read), and the number of CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CpuTimes {
    /// Normal processes in user mode.
    pub user: u64,
    /// Niced processes in user mode.
    pub nice: u64,
    /// Kernel mode.
    pub system: u64,
    /// Idle.
    pub idle: u64,
    /// Idle while some I/O was outstanding.
    pub iowait: u64,
    /// Serving hardware interrupts.
    pub irq: u64,
    /// Serving software interrupts.
    pub softirq: u64,
    /// Taken by the hypervisor for other guests while this one wanted to run.
    pub steal: u64,
    /// The `cpuN` lines: CPUs online.
    pub cpus: u32,
}

impl CpuTimes {
    /// Every tick counted, whatever the state: the CPUs' elapsed time.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.busy() + self.idle + self.iowait + self.steal
    }

    /// Ticks spent running something: user, nice, system, irq and softirq.
    #[must_use]
    pub fn busy(&self) -> u64 {
        self.user + self.nice + self.system + self.irq + self.softirq
    }
}

/// What two readings of `/proc/stat` and of the measured processes say about the interval between
/// them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuInterval {
    /// Ticks that one CPU lived through in the interval (`Δtotal / cpus`).
    pub ticks_per_cpu: f64,
    /// Steal as a share of all CPU time, in `0..=1`.
    pub steal_share: f64,
    /// CPUs the measured processes kept busy on average.
    pub own_cores: f64,
    /// CPUs everything else kept busy on average (other processes, interrupts, the kernel's own
    /// threads); never below 0 (the two sources count ticks a little differently).
    pub other_cores: f64,
}

impl CpuInterval {
    /// The interval from `(machine, own ticks)` at its start to the same at its end; `None` when
    /// no tick elapsed (readings too close together) or the CPU count is 0.
    #[must_use]
    pub fn between(start: (&CpuTimes, u64), end: (&CpuTimes, u64)) -> Option<Self> {
        let (a, own_a) = start;
        let (b, own_b) = end;
        let total = b.total().saturating_sub(a.total());
        if total == 0 || b.cpus == 0 {
            return None;
        }
        #[allow(clippy::cast_precision_loss)] // tick counts stay far below 2^52
        let (total, busy, steal, own) = (
            total as f64,
            b.busy().saturating_sub(a.busy()) as f64,
            b.steal.saturating_sub(a.steal) as f64,
            own_b.saturating_sub(own_a) as f64,
        );
        let ticks_per_cpu = total / f64::from(b.cpus);
        Some(Self {
            ticks_per_cpu,
            steal_share: steal / total,
            own_cores: own / ticks_per_cpu,
            other_cores: (busy - own).max(0.0) / ticks_per_cpu,
        })
    }
}

/// Reads `proc/stat` under `root`.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Parse`] when it has no `cpu` line of at
/// least four numbers.
pub fn read_cpu_times(root: &Path) -> Result<CpuTimes> {
    let path = files::under(root, "proc/stat");
    parse_stat(&files::read_text(&path)?).map_err(|what| Error::parse(&path, what))
}

/// Reads the CPU ticks (user + system) that process `pid` has used, all its threads together,
/// from `proc/<pid>/stat` under `root`. Children's ticks are left out: they reach the parent's
/// counters only when reaped, all at once; watch a worker process by its own pid instead.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read (e.g. the process ended), [`Error::Parse`] when the
/// fields are not there.
pub fn read_process_ticks(root: &Path, pid: u32) -> Result<u64> {
    let path = process_stat_path(root, pid);
    parse_process_ticks(&files::read_text(&path)?).map_err(|what| Error::parse(&path, what))
}

/// `proc/<pid>/stat` under `root`.
pub(crate) fn process_stat_path(root: &Path, pid: u32) -> PathBuf {
    files::under(root, &format!("proc/{pid}/stat"))
}

/// The load average line of `/proc/loadavg`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadAverage {
    /// Over the last minute.
    pub one: f64,
    /// Over the last five minutes.
    pub five: f64,
    /// Over the last fifteen minutes.
    pub fifteen: f64,
    /// Runnable tasks (threads) when read.
    pub runnable: u32,
    /// Tasks that exist when read.
    pub tasks: u32,
}

impl std::fmt::Display for LoadAverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} {:.2} {:.2} ({} of {} tasks runnable)",
            self.one, self.five, self.fifteen, self.runnable, self.tasks
        )
    }
}

/// Reads `proc/loadavg` under `root`.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Parse`] when its fields are not there.
pub fn read_load_average(root: &Path) -> Result<LoadAverage> {
    let path = files::under(root, "proc/loadavg");
    parse_loadavg(&files::read_text(&path)?).map_err(|what| Error::parse(&path, what))
}

/// The `cpu` line and the count of `cpuN` lines of `/proc/stat`. Kernels older than 2.6.11 have
/// fewer columns: the missing ones count as 0.
pub(crate) fn parse_stat(text: &str) -> std::result::Result<CpuTimes, String> {
    let mut times = None;
    let mut cpus = 0u32;
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        match fields.next() {
            Some("cpu") => {
                let v: Vec<u64> = fields
                    .map(str::parse)
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| format!("the cpu line has a field that is not a count ({e}): {line}"))?;
                if v.len() < 4 {
                    return Err(format!("the cpu line has {} fields, at least 4 expected: {line}", v.len()));
                }
                let at = |i: usize| v.get(i).copied().unwrap_or(0);
                times = Some(CpuTimes {
                    user: at(0),
                    nice: at(1),
                    system: at(2),
                    idle: at(3),
                    iowait: at(4),
                    irq: at(5),
                    softirq: at(6),
                    steal: at(7),
                    cpus: 0,
                });
            }
            Some(name)
                if name.len() > 3 && name.starts_with("cpu") && name[3..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                cpus += 1;
            }
            _ => {}
        }
    }
    let mut times = times.ok_or("no aggregate `cpu` line")?;
    times.cpus = cpus;
    Ok(times)
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name (field 2) is
/// in parentheses and may itself hold spaces and parentheses, so fields are counted from the
/// last `)`.
pub(crate) fn parse_process_ticks(text: &str) -> std::result::Result<u64, String> {
    let after = text.rfind(')').map(|i| &text[i + 1..]).ok_or("no `(comm)` field")?;
    // After the name: field 3 (state) is index 0, so field n is index n - 3.
    let mut fields = after.split_ascii_whitespace().skip(14 - 3);
    let mut next = |name: &str| -> std::result::Result<u64, String> {
        fields
            .next()
            .ok_or_else(|| format!("no {name} field"))?
            .parse::<u64>()
            .map_err(|e| format!("{name} is not a count: {e}"))
    };
    Ok(next("utime")? + next("stime")?)
}

/// The fields of `/proc/loadavg`: `0.52 0.58 0.59 2/1234 5678`.
pub(crate) fn parse_loadavg(text: &str) -> std::result::Result<LoadAverage, String> {
    let mut f = text.split_ascii_whitespace();
    let mut avg = |name: &str| -> std::result::Result<f64, String> {
        f.next().ok_or_else(|| format!("no {name} field"))?.parse::<f64>().map_err(|e| format!("{name}: {e}"))
    };
    let (one, five, fifteen) = (avg("1-minute")?, avg("5-minute")?, avg("15-minute")?);
    let tasks = f.next().ok_or("no runnable/tasks field")?;
    let (runnable, total) = tasks.split_once('/').ok_or_else(|| format!("`{tasks}` is not runnable/tasks"))?;
    let count = |s: &str| s.parse::<u32>().map_err(|e| format!("`{tasks}`: {e}"));
    Ok(LoadAverage { one, five, fifteen, runnable: count(runnable)?, tasks: count(total)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT_A: &str = "cpu  1000 100 500 8000 50 10 40 0 0 0\n\
                          cpu0 500 50 250 4000 25 5 20 0 0 0\n\
                          cpu1 500 50 250 4000 25 5 20 0 0 0\n\
                          intr 12345 0 0\nctxt 99\nbtime 1700000000\n";

    #[test]
    fn proc_stat_gives_the_aggregate_line_and_the_cpu_count() {
        let t = parse_stat(STAT_A).unwrap();
        assert_eq!(
            (t.user, t.nice, t.system, t.idle, t.iowait, t.irq, t.softirq, t.steal),
            (1000, 100, 500, 8000, 50, 10, 40, 0)
        );
        assert_eq!(t.cpus, 2);
        assert_eq!(t.busy(), 1650);
        assert_eq!(t.total(), 9700);
        // An old kernel's four columns.
        let old = parse_stat("cpu 1 2 3 4\ncpu0 1 2 3 4\n").unwrap();
        assert_eq!((old.idle, old.steal, old.cpus), (4, 0, 1));
        assert!(parse_stat("cpu 1 2 3\n").unwrap_err().contains("3 fields"));
        assert!(parse_stat("cpu0 1 2 3 4\n").unwrap_err().contains("no aggregate"));
        assert!(parse_stat("cpu 1 2 x 4\n").is_err());
    }

    #[test]
    fn two_snapshots_give_steal_and_other_processes_cpu() {
        let a = parse_stat(STAT_A).unwrap();
        // One second later at 100 ticks/s on 2 CPUs: 200 ticks in all. Busy 120 of them
        // (user 90, system 20, softirq 10), steal 10, idle 70. The measured process used 50.
        let b = CpuTimes { user: 1090, system: 520, softirq: 50, steal: 10, idle: 8070, ..a };
        let i = CpuInterval::between((&a, 300), (&b, 350)).unwrap();
        assert!((i.ticks_per_cpu - 100.0).abs() < 1e-12);
        assert!((i.steal_share - 0.05).abs() < 1e-12, "{i:?}");
        assert!((i.own_cores - 0.5).abs() < 1e-12, "{i:?}");
        assert!((i.other_cores - 0.7).abs() < 1e-12, "{i:?}");
        // Our count a little above the machine's: clamped to 0, not negative.
        let i = CpuInterval::between((&a, 0), (&b, 500)).unwrap();
        assert!(i.other_cores.abs() < 1e-12 && i.own_cores > 2.0);
        // No tick elapsed: nothing can be said.
        assert!(CpuInterval::between((&a, 0), (&a, 0)).is_none());
    }

    #[test]
    fn process_stat_counts_from_the_last_parenthesis() {
        // Field 14 utime = 7, 15 stime = 3, 16/17 children's times (ignored).
        let line = "4242 (a) (weird) name) R 1 4242 4242 0 -1 4194304 97 0 0 0 7 3 11 13 20 0 3 0 520544 3133440 376";
        assert_eq!(parse_process_ticks(line).unwrap(), 10);
        assert!(parse_process_ticks("4242 (short) R 1 2").unwrap_err().contains("utime"));
        assert!(parse_process_ticks("no parenthesis").is_err());
        let real = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(parse_process_ticks(&real).is_ok(), "{real}");
    }

    #[test]
    fn loadavg_fields() {
        let l = parse_loadavg("3.54 3.26 2.01 5/124 10797\n").unwrap();
        assert_eq!(l, LoadAverage { one: 3.54, five: 3.26, fifteen: 2.01, runnable: 5, tasks: 124 });
        assert_eq!(l.to_string(), "3.54 3.26 2.01 (5 of 124 tasks runnable)");
        assert!(parse_loadavg("1 2 3 5\n").is_err());
        assert!(parse_loadavg("1 2\n").is_err());
    }

    #[test]
    fn readers_work_on_a_simulated_tree_and_name_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("proc/4242")).unwrap();
        std::fs::write(root.join("proc/stat"), STAT_A).unwrap();
        std::fs::write(root.join("proc/4242/stat"), "4242 (x) S 1 1 1 0 -1 0 0 0 0 0 70 30 0 0").unwrap();
        std::fs::write(root.join("proc/loadavg"), "0.10 0.20 0.30 1/50 7\n").unwrap();
        assert_eq!(read_cpu_times(root).unwrap().cpus, 2);
        assert_eq!(read_process_ticks(root, 4242).unwrap(), 100);
        assert_eq!(read_load_average(root).unwrap().tasks, 50);
        let gone = read_process_ticks(root, 1).unwrap_err().reason();
        assert!(gone.starts_with("no ") && gone.ends_with("proc/1/stat"), "{gone}");
        // And on this machine.
        let real = read_cpu_times(Path::new("/")).unwrap();
        assert!(real.cpus >= 1 && real.total() > 0);
        assert!(read_process_ticks(Path::new("/"), std::process::id()).is_ok());
        assert!(read_load_average(Path::new("/")).is_ok());
    }
}
