//! Hardware sensors: `/sys/class/hwmon` (temperatures and fans), `/sys/class/thermal` (when
//! hwmon has no temperatures) and `/sys/class/power_supply` (battery) — psutil's
//! `sensors_temperatures`, `sensors_fans` and `sensors_battery`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{float, int, read_opt, strip, Named, Result, System, SystemError};

/// psutil's `POWER_TIME_UNLIMITED`: on AC power.
pub const POWER_TIME_UNLIMITED: i64 = -2;
/// psutil's `POWER_TIME_UNKNOWN`.
pub const POWER_TIME_UNKNOWN: i64 = -1;

/// psutil's `shwtemp`, in degrees Celsius.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Temperature {
    /// The sensor's label (`tempN_label`), `""` when it has none.
    pub label: String,
    /// The current temperature.
    pub current: f64,
    /// The high threshold (`tempN_max`, or the critical one when only that is known).
    pub high: Option<f64>,
    /// The critical threshold (`tempN_crit`, or the high one when only that is known).
    pub critical: Option<f64>,
}

/// psutil's `sfan`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fan {
    /// The fan's label (`fanN_label`), `""` when it has none.
    pub label: String,
    /// The speed in RPM.
    pub current: i64,
}

/// psutil's `sbattery`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Battery {
    /// Charge left, in percent.
    pub percent: f64,
    /// Seconds until empty; [`POWER_TIME_UNLIMITED`] on AC power, [`POWER_TIME_UNKNOWN`]
    /// when it cannot be told.
    pub secsleft: i64,
    /// Whether AC power is connected; `None` when it cannot be told.
    pub power_plugged: Option<bool>,
}

/// The entries of `dir` whose names start with `prefix`, as full paths (a glob `PREFIX*`).
fn glob_dir(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect()
}

/// psutil's glob `HWMON/hwmon*/[device/]KIND*_*` reduced to the sensor stems (`…/temp1`),
/// sorted.
fn hwmon_stems(hwmon: &Path, sub: &str, kind: &str) -> Vec<PathBuf> {
    let mut stems = BTreeSet::new();
    for dir in glob_dir(hwmon, "hwmon") {
        let dir = if sub.is_empty() { dir } else { dir.join(sub) };
        for file in glob_dir(&dir, kind) {
            let name = file
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if let Some((stem, _)) = name.split_once('_') {
                stems.insert(dir.join(stem));
            }
        }
    }
    stems.into_iter().collect()
}

/// `cat(path).strip()` as text.
fn text(path: &Path) -> Option<String> {
    read_opt(path).map(|d| String::from_utf8_lossy(strip(&d)).into_owned())
}

/// `float(bcat(path)) / 1000`, `None` when unreadable or not a number.
fn milli(path: &Path) -> Option<f64> {
    read_opt(path).and_then(|d| float(&d)).map(|v| v / 1000.0)
}

fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn push_named<T>(out: &mut Named<Vec<T>>, name: String, value: T) {
    match out.iter_mut().find(|(n, _)| *n == name) {
        Some((_, list)) => list.push(value),
        None => out.push((name, vec![value])),
    }
}

impl System {
    /// psutil's `sensors_temperatures()`: every `tempN_input` of hwmon (grouped by the
    /// device's `name`), or, when hwmon has none, every thermal zone (grouped by `type`, with
    /// high and critical from its trip points). A missing threshold takes the other's value.
    pub fn sensors_temperatures(&self) -> Result<Named<Vec<Temperature>>> {
        let hwmon = self.sys_path("class/hwmon");
        let mut stems = hwmon_stems(&hwmon, "", "temp");
        stems.extend(hwmon_stems(&hwmon, "device", "temp"));
        stems.sort();
        stems.dedup();
        // psutil also appends coretemp's files under /sys/devices/platform, which then never
        // read (it appends file names, not stems); they only keep the thermal fallback off.
        let coretemp = glob_dir(&self.sys_path("devices/platform"), "coretemp.")
            .into_iter()
            .flat_map(|dir| glob_dir(&dir.join("hwmon"), "hwmon"))
            .any(|dir| !glob_dir(&dir, "temp").is_empty());
        // (label, current, high, critical) per device, before psutil fills in thresholds.
        type Raw = (String, f64, Option<f64>, Option<f64>);
        let mut raw: Named<Vec<Raw>> = Vec::new();
        for stem in &stems {
            let Some(current) = milli(&with_suffix(stem, "_input")) else {
                continue;
            };
            let Some(unit) = stem.parent().and_then(|dir| text(&dir.join("name"))) else {
                continue;
            };
            let high = milli(&with_suffix(stem, "_max"));
            let critical = milli(&with_suffix(stem, "_crit"));
            let label = text(&with_suffix(stem, "_label")).unwrap_or_default();
            push_named(&mut raw, unit, (label, current, high, critical));
        }
        if stems.is_empty() && !coretemp {
            let mut zones = glob_dir(&self.sys_path("class/thermal"), "thermal_zone");
            zones.sort();
            for zone in zones {
                let Some(current) = milli(&zone.join("temp")) else {
                    continue;
                };
                let Some(unit) = text(&zone.join("type")) else {
                    continue;
                };
                let trips: BTreeSet<String> = glob_dir(&zone, "trip_point")
                    .iter()
                    .filter_map(|p| {
                        let name = p.file_name()?.to_string_lossy().into_owned();
                        Some(name.split('_').take(3).collect::<Vec<_>>().join("_"))
                    })
                    .collect();
                let (mut high, mut critical) = (None, None);
                for trip in trips {
                    let kind = text(&zone.join(format!("{trip}_type"))).unwrap_or_default();
                    let temp = || milli(&zone.join(format!("{trip}_temp")));
                    match kind.as_str() {
                        "critical" => critical = temp(),
                        "high" => high = temp(),
                        _ => {}
                    }
                }
                push_named(&mut raw, unit, (String::new(), current, high, critical));
            }
        }
        Ok(raw
            .into_iter()
            .map(|(unit, entries)| {
                let entries = entries
                    .into_iter()
                    .map(|(label, current, high, critical)| {
                        // psutil's truthiness: a 0.0 threshold counts as missing.
                        let set = |v: Option<f64>| v.filter(|&v| v != 0.0);
                        let (high, critical) = match (set(high), set(critical)) {
                            (Some(h), None) => (high, Some(h)),
                            (None, Some(c)) => (Some(c), critical),
                            _ => (high, critical),
                        };
                        Temperature {
                            label,
                            current,
                            high,
                            critical,
                        }
                    })
                    .collect();
                (unit, entries)
            })
            .collect())
    }

    /// psutil's `sensors_fans()`: every `fanN_input` of hwmon, in RPM, grouped by the
    /// device's `name`.
    pub fn sensors_fans(&self) -> Result<Named<Vec<Fan>>> {
        let hwmon = self.sys_path("class/hwmon");
        let mut stems = hwmon_stems(&hwmon, "", "fan");
        if stems.is_empty() {
            stems = hwmon_stems(&hwmon, "device", "fan");
        }
        let mut out = Vec::new();
        for stem in stems {
            let Some(current) = read_opt(&with_suffix(&stem, "_input")).and_then(|d| int(&d))
            else {
                continue;
            };
            let name_path = stem.parent().unwrap_or(&stem).join("name");
            let unit = text(&name_path)
                .ok_or_else(|| SystemError::io(&name_path, std::io::ErrorKind::NotFound.into()))?;
            let label = text(&with_suffix(&stem, "_label")).unwrap_or_default();
            push_named(&mut out, unit, Fan { label, current });
        }
        Ok(out)
    }

    /// psutil's `sensors_battery()`: the first `BAT*` (or `*battery*`) power supply; `None`
    /// when there is none (also when `/sys/class/power_supply` does not exist, where psutil
    /// raises `FileNotFoundError`).
    pub fn sensors_battery(&self) -> Result<Option<Battery>> {
        let supplies = self.sys_path("class/power_supply");
        let Ok(entries) = std::fs::read_dir(&supplies) else {
            return Ok(None);
        };
        let Some(name) = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("BAT") || n.to_lowercase().contains("battery"))
            .min()
        else {
            return Ok(None);
        };
        let root = supplies.join(name);
        // psutil's multi_bcat: the first readable file, as an integer (None if not one).
        let first_int = |names: &[&str]| -> Option<i64> {
            names
                .iter()
                .find_map(|n| read_opt(&root.join(n)))
                .and_then(|d| int(&d))
        };
        let energy_now = first_int(&["energy_now", "charge_now"]);
        let power_now = first_int(&["power_now", "current_now"]);
        let energy_full = first_int(&["energy_full", "charge_full"]);
        let time_to_empty = first_int(&["time_to_empty_now"]);
        let percent = match (energy_now, energy_full) {
            (Some(now), Some(full)) => {
                if full == 0 {
                    0.0
                } else {
                    100.0 * now as f64 / full as f64
                }
            }
            _ => match read_opt(&root.join("capacity")).and_then(|d| int::<i64>(&d)) {
                Some(capacity) if capacity != -1 => capacity as f64,
                _ => return Ok(None),
            },
        };
        let online = ["AC0/online", "AC/online"]
            .iter()
            .find_map(|n| read_opt(&supplies.join(n)))
            .map(|d| int::<i64>(&d));
        let power_plugged = match online {
            Some(value) => Some(value == Some(1)),
            None => match text(&root.join("status"))
                .unwrap_or_default()
                .to_lowercase()
                .as_str()
            {
                "discharging" => Some(false),
                "charging" | "full" => Some(true),
                _ => None,
            },
        };
        let secsleft = if power_plugged == Some(true) {
            POWER_TIME_UNLIMITED
        } else if let (Some(now), Some(power)) = (energy_now, power_now) {
            if power == 0 {
                POWER_TIME_UNKNOWN
            } else {
                (now as f64 / power.abs() as f64 * 3600.0) as i64
            }
        } else if let Some(minutes) = time_to_empty {
            let secs = minutes * 60;
            if secs < 0 {
                POWER_TIME_UNKNOWN
            } else {
                secs
            }
        } else {
            POWER_TIME_UNKNOWN
        };
        Ok(Some(Battery {
            percent,
            secsleft,
            power_plugged,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{SystemRoot, TempDir};
    use super::*;

    #[test]
    fn hwmon_temperatures_and_fans() {
        let dir = TempDir::new("hwmon");
        dir.write("sys/class/hwmon/hwmon0/name", b"coretemp\n");
        dir.write("sys/class/hwmon/hwmon0/temp1_input", b"45000\n");
        dir.write("sys/class/hwmon/hwmon0/temp1_label", b"Package id 0\n");
        dir.write("sys/class/hwmon/hwmon0/temp1_max", b"80000\n");
        dir.write("sys/class/hwmon/hwmon0/temp2_input", b"40500\n");
        dir.write("sys/class/hwmon/hwmon0/temp2_crit", b"100000\n");
        dir.write("sys/class/hwmon/hwmon0/temp3_input", b"garbage\n");
        dir.write("sys/class/hwmon/hwmon1/name", b"thinkpad\n");
        dir.write("sys/class/hwmon/hwmon1/fan1_input", b"2100\n");
        dir.write("sys/class/hwmon/hwmon1/fan1_label", b"CPU\n");
        let sys = dir.system();
        let temps = sys.sensors_temperatures().unwrap();
        assert_eq!(temps.len(), 1);
        assert_eq!(temps[0].0, "coretemp");
        assert_eq!(
            temps[0].1,
            vec![
                Temperature {
                    label: "Package id 0".into(),
                    current: 45.0,
                    high: Some(80.0),
                    critical: Some(80.0),
                },
                Temperature {
                    label: "".into(),
                    current: 40.5,
                    high: Some(100.0),
                    critical: Some(100.0),
                },
            ]
        );
        let fans = sys.sensors_fans().unwrap();
        assert_eq!(
            fans,
            vec![(
                "thinkpad".to_string(),
                vec![Fan {
                    label: "CPU".into(),
                    current: 2100
                }]
            )]
        );
    }

    #[test]
    fn thermal_zones_when_hwmon_has_none() {
        let dir = TempDir::new("thermal");
        dir.write("sys/class/thermal/thermal_zone0/temp", b"52000\n");
        dir.write("sys/class/thermal/thermal_zone0/type", b"x86_pkg_temp\n");
        dir.write(
            "sys/class/thermal/thermal_zone0/trip_point_0_type",
            b"critical\n",
        );
        dir.write(
            "sys/class/thermal/thermal_zone0/trip_point_0_temp",
            b"105000\n",
        );
        dir.write(
            "sys/class/thermal/thermal_zone0/trip_point_1_type",
            b"passive\n",
        );
        dir.write(
            "sys/class/thermal/thermal_zone0/trip_point_1_temp",
            b"95000\n",
        );
        let temps = dir.system().sensors_temperatures().unwrap();
        assert_eq!(
            temps,
            vec![(
                "x86_pkg_temp".to_string(),
                vec![Temperature {
                    label: "".into(),
                    current: 52.0,
                    high: Some(105.0),
                    critical: Some(105.0),
                }]
            )]
        );
    }

    #[test]
    fn battery_discharging_and_on_ac() {
        let dir = TempDir::new("battery");
        assert_eq!(dir.system().sensors_battery().unwrap(), None);
        dir.write("sys/class/power_supply/BAT0/energy_now", b"30000000\n");
        dir.write("sys/class/power_supply/BAT0/energy_full", b"60000000\n");
        dir.write("sys/class/power_supply/BAT0/power_now", b"-10000000\n");
        dir.write("sys/class/power_supply/BAT0/status", b"Discharging\n");
        let battery = dir.system().sensors_battery().unwrap().unwrap();
        assert_eq!(
            battery,
            Battery {
                percent: 50.0,
                secsleft: 3 * 3600,
                power_plugged: Some(false)
            }
        );
        dir.write("sys/class/power_supply/AC/online", b"1\n");
        let battery = dir.system().sensors_battery().unwrap().unwrap();
        assert_eq!(battery.power_plugged, Some(true));
        assert_eq!(battery.secsleft, POWER_TIME_UNLIMITED);
    }

    #[test]
    fn battery_from_capacity() {
        let dir = TempDir::new("capacity");
        dir.write("sys/class/power_supply/BAT1/capacity", b"85\n");
        let battery = dir.system().sensors_battery().unwrap().unwrap();
        assert_eq!(battery.percent, 85.0);
        assert_eq!(battery.power_plugged, None);
        assert_eq!(battery.secsleft, POWER_TIME_UNKNOWN);
    }
}
