//! psutil's module-level memory as an object: the CPU times `cpu_percent` and
//! `cpu_times_percent` compare with when called without an interval, and the counters
//! `disk_io_counters`/`net_io_counters` keep so that `nowrap=True` never lets a total go down.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::{disk, net, round1, CpuTimes, DiskIo, Named, NetIo, Result, System};

/// psutil's `_WrapNumbers` for one function: remembers the previous raw values and, when a
/// counter goes down (a 32-bit kernel counter wrapped, or a device was reset), adds what it
/// had reached to every later value.
#[derive(Debug, Default, Clone)]
struct WrapNumbers {
    cache: Option<Named<Vec<u64>>>,
    reminders: HashMap<(String, usize), u64>,
    reminder_keys: HashMap<String, HashSet<(String, usize)>>,
}

impl WrapNumbers {
    fn run(&mut self, input: Named<Vec<u64>>) -> Named<Vec<u64>> {
        let Some(old) = self.cache.take() else {
            self.cache = Some(input.clone());
            return input;
        };
        // Keys gone since the last call drop their reminders.
        for (gone, _) in old
            .iter()
            .filter(|(k, _)| !input.iter().any(|(n, _)| n == k))
        {
            for remkey in self.reminder_keys.remove(gone).unwrap_or_default() {
                self.reminders.remove(&remkey);
            }
        }
        let mut out = Vec::with_capacity(input.len());
        for (key, values) in &input {
            let Some((_, old_values)) = old.iter().find(|(k, _)| k == key) else {
                out.push((key.clone(), values.clone()));
                continue;
            };
            let mut adjusted = Vec::with_capacity(values.len());
            for (i, &value) in values.iter().enumerate() {
                let remkey = (key.clone(), i);
                if let Some(&previous) = old_values.get(i) {
                    if value < previous {
                        *self.reminders.entry(remkey.clone()).or_default() += previous;
                        self.reminder_keys
                            .entry(key.clone())
                            .or_default()
                            .insert(remkey.clone());
                    }
                }
                adjusted.push(value + self.reminders.get(&remkey).copied().unwrap_or(0));
            }
            out.push((key.clone(), adjusted));
        }
        self.cache = Some(input);
        out
    }
}

/// psutil's `_cpu_times_deltas`: per field, how much it grew (never negative).
fn deltas(t1: &CpuTimes, t2: &CpuTimes) -> [f64; 10] {
    let (a, b) = (t1.values(), t2.values());
    std::array::from_fn(|i| (b[i] - a[i]).max(0.0))
}

/// psutil's `_cpu_tot_time`: all fields, minus guest times (already in user and nice).
fn total_time(d: &[f64; 10]) -> f64 {
    let mut total = d.iter().fold(0.0, |sum, v| sum + v);
    total -= d[8];
    total -= d[9];
    total
}

/// psutil's `cpu_percent` calculation: busy (not idle, not iowait) over total, rounded.
pub(crate) fn busy_percent(t1: &CpuTimes, t2: &CpuTimes) -> f64 {
    let d = deltas(t1, t2);
    let all = total_time(&d);
    let mut busy = all;
    busy -= d[3];
    busy -= d[4];
    if all == 0.0 {
        return 0.0;
    }
    round1(busy / all * 100.0)
}

/// psutil's `cpu_times_percent` calculation: each field's share of the total, rounded and
/// kept within 0..100.
pub(crate) fn times_percent(t1: &CpuTimes, t2: &CpuTimes) -> CpuTimes {
    let d = deltas(t1, t2);
    let all = total_time(&d);
    let scale = 100.0 / if all > 1.0 { all } else { 1.0 };
    CpuTimes::from_values(d.map(|v| round1(v * scale).clamp(0.0, 100.0)))
}

/// psutil's module-level state for one caller (psutil keeps it per thread): what
/// `cpu_percent(interval=None)` and `cpu_times_percent(interval=None)` compare with, and the
/// `nowrap` memory of the I/O counters.
///
/// Created, it reads the CPU times once — psutil does so when the module is imported — so the
/// first non-blocking `cpu_percent` compares with that moment (a value psutil tells you to
/// ignore when it is immediate); later ones compare with the previous call.
#[derive(Debug, Clone)]
pub struct Sampler {
    system: System,
    last_cpu: Option<CpuTimes>,
    last_cpu_percpu: Option<Vec<CpuTimes>>,
    last_times: Option<CpuTimes>,
    last_times_percpu: Option<Vec<CpuTimes>>,
    disk_wrap: WrapNumbers,
    net_wrap: WrapNumbers,
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::new()
    }
}

impl Sampler {
    /// A sampler of the live system, its CPU baseline taken now.
    pub fn new() -> Sampler {
        Sampler::with_system(System::new())
    }

    /// A sampler reading through `system`, its CPU baseline taken now (none if unreadable).
    pub fn with_system(system: System) -> Sampler {
        let cpu = system.cpu_times().ok();
        let percpu = system.cpu_times_percpu().ok().filter(|v| !v.is_empty());
        Sampler {
            last_cpu: cpu,
            last_cpu_percpu: percpu.clone(),
            last_times: cpu,
            last_times_percpu: percpu,
            disk_wrap: WrapNumbers::default(),
            net_wrap: WrapNumbers::default(),
            system,
        }
    }

    /// The reader this sampler uses.
    pub fn system(&self) -> &System {
        &self.system
    }

    /// The two CPU time samples psutil compares: before and after sleeping `interval` when it
    /// is given and not zero (blocking); otherwise the remembered one (or now) and now.
    fn window<T: Clone>(
        &self,
        interval: Option<Duration>,
        last: Option<T>,
        read: impl Fn(&System) -> Result<T>,
    ) -> Result<(T, T)> {
        let t1 = match interval.filter(|d| !d.is_zero()) {
            Some(d) => {
                let t1 = read(&self.system)?;
                std::thread::sleep(d);
                t1
            }
            None => match last {
                Some(t) => t,
                None => read(&self.system)?,
            },
        };
        Ok((t1, read(&self.system)?))
    }

    /// psutil's `cpu_percent(interval)`: system-wide CPU use in percent, one decimal. With
    /// an interval it blocks that long; without (or zero) it compares with the previous call
    /// (or the sampler's creation).
    pub fn cpu_percent(&mut self, interval: Option<Duration>) -> Result<f64> {
        let (t1, t2) = self.window(interval, self.last_cpu, System::cpu_times)?;
        self.last_cpu = Some(t2);
        Ok(busy_percent(&t1, &t2))
    }

    /// psutil's `cpu_percent(interval, percpu=True)`: one value per CPU.
    pub fn cpu_percent_percpu(&mut self, interval: Option<Duration>) -> Result<Vec<f64>> {
        let last = self.last_cpu_percpu.take();
        let (t1, t2) = self.window(interval, last, System::cpu_times_percpu)?;
        let out = t1
            .iter()
            .zip(&t2)
            .map(|(a, b)| busy_percent(a, b))
            .collect();
        self.last_cpu_percpu = Some(t2).filter(|v| !v.is_empty());
        Ok(out)
    }

    /// psutil's `cpu_times_percent(interval)`: each mode's share of CPU time in percent.
    /// Its memory is separate from [`Sampler::cpu_percent`]'s, as in psutil.
    ///
    /// As psutil, it divides by the CPU time that passed only when that exceeds one second
    /// (`100 / max(1, total)`): over a shorter window (under one second divided by the
    /// number of CPUs) the shares sum to less than 100.
    pub fn cpu_times_percent(&mut self, interval: Option<Duration>) -> Result<CpuTimes> {
        let (t1, t2) = self.window(interval, self.last_times, System::cpu_times)?;
        self.last_times = Some(t2);
        Ok(times_percent(&t1, &t2))
    }

    /// psutil's `cpu_times_percent(interval, percpu=True)`.
    pub fn cpu_times_percent_percpu(
        &mut self,
        interval: Option<Duration>,
    ) -> Result<Vec<CpuTimes>> {
        let last = self.last_times_percpu.take();
        let (t1, t2) = self.window(interval, last, System::cpu_times_percpu)?;
        let out = t1
            .iter()
            .zip(&t2)
            .map(|(a, b)| times_percent(a, b))
            .collect();
        self.last_times_percpu = Some(t2).filter(|v| !v.is_empty());
        Ok(out)
    }

    fn disk_io(&mut self, perdisk: bool, nowrap: bool) -> Result<Named<DiskIo>> {
        let raw = self.system.disk_io_raw(perdisk)?;
        if !nowrap || raw.is_empty() {
            return Ok(raw);
        }
        let values = raw
            .into_iter()
            .map(|(k, v)| (k, v.values().to_vec()))
            .collect();
        Ok(self
            .disk_wrap
            .run(values)
            .into_iter()
            .map(|(k, v)| {
                let fields: [u64; 9] = v.try_into().expect("disk counters have nine fields");
                (k, DiskIo::from_values(fields))
            })
            .collect())
    }

    /// psutil's `disk_io_counters(nowrap)`: the sum over whole disks, `None` without disks.
    pub fn disk_io_counters(&mut self, nowrap: bool) -> Result<Option<DiskIo>> {
        Ok(disk::total(&self.disk_io(false, nowrap)?))
    }

    /// psutil's `disk_io_counters(perdisk=True, nowrap)`: disks and partitions.
    pub fn disk_io_counters_perdisk(&mut self, nowrap: bool) -> Result<Named<DiskIo>> {
        self.disk_io(true, nowrap)
    }

    fn net_io(&mut self, nowrap: bool) -> Result<Named<NetIo>> {
        let raw = self.system.net_io_raw()?;
        if !nowrap || raw.is_empty() {
            return Ok(raw);
        }
        let values = raw
            .into_iter()
            .map(|(k, v)| (k, v.values().to_vec()))
            .collect();
        Ok(self
            .net_wrap
            .run(values)
            .into_iter()
            .map(|(k, v)| {
                let fields: [u64; 8] = v.try_into().expect("net counters have eight fields");
                (k, NetIo::from_values(fields))
            })
            .collect())
    }

    /// psutil's `net_io_counters(nowrap)`: the sum over interfaces, `None` without any.
    pub fn net_io_counters(&mut self, nowrap: bool) -> Result<Option<NetIo>> {
        Ok(net::total(&self.net_io(nowrap)?))
    }

    /// psutil's `net_io_counters(pernic=True, nowrap)`.
    pub fn net_io_counters_pernic(&mut self, nowrap: bool) -> Result<Named<NetIo>> {
        self.net_io(nowrap)
    }

    /// psutil's `disk_io_counters.cache_clear()` and `net_io_counters.cache_clear()`:
    /// forget the `nowrap` memory.
    pub fn cache_clear(&mut self) {
        self.disk_wrap = WrapNumbers::default();
        self.net_wrap = WrapNumbers::default();
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{SystemRoot, TempDir};
    use super::*;

    fn times(user: f64, system: f64, idle: f64, iowait: f64, guest: f64) -> CpuTimes {
        CpuTimes {
            user,
            system,
            idle,
            iowait,
            guest,
            ..CpuTimes::default()
        }
    }

    #[test]
    fn percent_as_psutil_computes_it() {
        let t1 = times(10.0, 5.0, 100.0, 1.0, 0.0);
        let t2 = times(13.0, 6.0, 105.0, 2.0, 1.0);
        // total = 3 + 1 + 5 + 1 + 1 - 1 (guest) = 10; busy = 10 - 5 - 1 = 4.
        assert_eq!(busy_percent(&t1, &t2), 40.0);
        assert_eq!(busy_percent(&t1, &t1), 0.0);
        let p = times_percent(&t1, &t2);
        assert_eq!(
            (p.user, p.system, p.idle, p.iowait, p.guest),
            (30.0, 10.0, 50.0, 10.0, 10.0)
        );
        // A counter going backwards counts as no change.
        assert_eq!(busy_percent(&t2, &t1), 0.0);
        // Below one second of total, the scale stays at 100.
        let small = times_percent(&t1, &times(10.5, 5.0, 100.0, 1.0, 0.0));
        assert_eq!(small.user, 50.0);
    }

    #[test]
    fn wrap_numbers_keep_counters_increasing() {
        let mut wrap = WrapNumbers::default();
        let named = |v: u64| vec![("eth0".to_string(), vec![v, 7])];
        assert_eq!(wrap.run(named(100)), named(100));
        assert_eq!(wrap.run(named(150)), named(150));
        // Wrapped: 150 is added from now on.
        assert_eq!(
            wrap.run(named(10)),
            vec![("eth0".to_string(), vec![160, 7])]
        );
        assert_eq!(
            wrap.run(named(20)),
            vec![("eth0".to_string(), vec![170, 7])]
        );
        // The key disappears: its reminders go; when it comes back it starts afresh.
        assert_eq!(wrap.run(vec![]), vec![]);
        assert_eq!(wrap.run(named(5)), named(5));
    }

    #[test]
    fn non_blocking_compares_with_previous_call() {
        let dir = TempDir::new("sampler");
        dir.write(
            "proc/stat",
            b"cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\n",
        );
        let mut sampler = Sampler::with_system(dir.system());
        dir.write(
            "proc/stat",
            b"cpu  150 0 150 900 0 0 0 0 0 0\ncpu0 150 0 150 900 0 0 0 0 0 0\n",
        );
        assert_eq!(sampler.cpu_percent(None).unwrap(), 50.0);
        assert_eq!(sampler.cpu_percent_percpu(None).unwrap(), vec![50.0]);
        // Nothing changed since: 0.0, as psutil.
        assert_eq!(sampler.cpu_percent(None).unwrap(), 0.0);
        // cpu_times_percent has its own memory: still against the creation.
        let p = sampler.cpu_times_percent(Some(Duration::ZERO)).unwrap();
        assert_eq!((p.user, p.system, p.idle), (25.0, 25.0, 50.0));
    }

    #[test]
    fn nowrap_counters_through_sampler() {
        let dir = TempDir::new("sampler-net");
        let dev =
            |bytes: u64| format!("h1\nh2\n  eth0: {bytes} 1 0 0 0 0 0 0 {bytes} 1 0 0 0 0 0 0\n");
        dir.write("proc/net/dev", dev(1000).as_bytes());
        let mut sampler = Sampler::with_system(dir.system());
        assert_eq!(
            sampler.net_io_counters(true).unwrap().unwrap().bytes_recv,
            1000
        );
        dir.write("proc/net/dev", dev(10).as_bytes());
        assert_eq!(
            sampler.net_io_counters(true).unwrap().unwrap().bytes_recv,
            1010
        );
        assert_eq!(
            sampler.net_io_counters(false).unwrap().unwrap().bytes_recv,
            10
        );
        sampler.cache_clear();
        assert_eq!(
            sampler.net_io_counters(true).unwrap().unwrap().bytes_recv,
            10
        );
    }

    #[test]
    fn live_blocking_percent() {
        let mut sampler = Sampler::new();
        let p = sampler
            .cpu_percent(Some(Duration::from_millis(50)))
            .unwrap();
        assert!((0.0..=100.0).contains(&p));
        let each = sampler
            .cpu_percent_percpu(Some(Duration::from_millis(50)))
            .unwrap();
        assert_eq!(each.len(), System::new().cpu_times_percpu().unwrap().len());
    }
}
