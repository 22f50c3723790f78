//! The system figures as JSON shaped the way psutil returns them: named tuples as objects
//! with psutil's field names, dicts ([`Named`](super::Named)) as objects, lists as arrays,
//! enums (address family, socket type, duplex) as their integer values, `None` as `null`.
//! `json.loads` of the output equals psutil's value passed through `_asdict()`.

use super::{
    Address, Battery, Connection, CpuFreq, CpuStats, CpuTimes, DiskIo, DiskPartition, DiskUsage,
    Fan, NetIo, NicAddr, NicStats, SwapMemory, Temperature, User, VirtualMemory,
};
use crate::json::Json;

/// A value that writes itself as psutil-shaped JSON.
pub trait ToJson {
    /// Writes this value as one JSON value.
    fn write_json(&self, json: &mut Json);
}

/// Writes a psutil dict: an object with the keys in order.
pub fn write_named<T: ToJson>(json: &mut Json, named: &[(String, T)]) {
    json.begin_object();
    for (key, value) in named {
        json.key(key);
        value.write_json(json);
    }
    json.end_object();
}

/// Writes an optional string (`null` when absent).
fn opt_str(json: &mut Json, value: &Option<String>) {
    match value {
        Some(s) => json.str(s),
        None => json.null(),
    };
}

impl<T: ToJson> ToJson for Vec<T> {
    fn write_json(&self, json: &mut Json) {
        json.begin_array();
        for item in self {
            item.write_json(json);
        }
        json.end_array();
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn write_json(&self, json: &mut Json) {
        match self {
            Some(value) => value.write_json(json),
            None => {
                json.null();
            }
        }
    }
}

impl ToJson for f64 {
    fn write_json(&self, json: &mut Json) {
        json.float(*self);
    }
}

impl ToJson for u64 {
    fn write_json(&self, json: &mut Json) {
        json.uint(*self);
    }
}

impl ToJson for u32 {
    fn write_json(&self, json: &mut Json) {
        json.uint(u64::from(*self));
    }
}

impl ToJson for [f64; 3] {
    fn write_json(&self, json: &mut Json) {
        json.begin_array();
        for v in self {
            json.float(*v);
        }
        json.end_array();
    }
}

impl ToJson for CpuTimes {
    fn write_json(&self, json: &mut Json) {
        json.begin_object();
        for (name, value) in CpuTimes::FIELDS.iter().zip(self.values()) {
            json.key(name).float(value);
        }
        json.end_object();
    }
}

impl ToJson for CpuStats {
    fn write_json(&self, json: &mut Json) {
        json.begin_object()
            .key("ctx_switches")
            .uint(self.ctx_switches)
            .key("interrupts")
            .uint(self.interrupts)
            .key("soft_interrupts")
            .uint(self.soft_interrupts)
            .key("syscalls")
            .uint(self.syscalls)
            .end_object();
    }
}

impl ToJson for CpuFreq {
    fn write_json(&self, json: &mut Json) {
        json.begin_object()
            .key("current")
            .float(self.current)
            .key("min")
            .float(self.min)
            .key("max")
            .float(self.max)
            .end_object();
    }
}

impl ToJson for VirtualMemory {
    fn write_json(&self, json: &mut Json) {
        json.begin_object()
            .key("total")
            .uint(self.total)
            .key("available")
            .uint(self.available)
            .key("percent")
            .float(self.percent)
            .key("used")
            .uint(self.used)
            .key("free")
            .uint(self.free)
            .key("active")
            .uint(self.active)
            .key("inactive")
            .uint(self.inactive)
            .key("buffers")
            .uint(self.buffers)
            .key("cached")
            .uint(self.cached)
            .key("shared")
            .uint(self.shared)
            .key("slab")
            .uint(self.slab)
            .end_object();
    }
}

impl ToJson for SwapMemory {
    fn write_json(&self, json: &mut Json) {
        json.begin_object()
            .key("total")
            .uint(self.total)
            .key("used")
            .uint(self.used)
            .key("free")
            .uint(self.free)
            .key("percent")
            .float(self.percent)
            .key("sin")
            .uint(self.sin)
            .key("sout")
            .uint(self.sout)
            .end_object();
    }
}

impl ToJson for DiskPartition {
    fn write_json(&self, json: &mut Json) {
        json.begin_object()
            .key("device")
            .os_str(&self.device)
            .key("mountpoint")
            .os_str(&self.mountpoint)
            .key("fstype")
            .str(&self.fstype)
            .key("opts")
            .str(&self.opts)
            .end_object();
    }
}

impl ToJson for DiskUsage {
    fn write_json(&self, json: &mut Json) {
        json.begin_object()
            .key("total")
            .uint(self.total)
            .key("used")
            .uint(self.used)
            .key("free")
            .uint(self.free)
            .key("percent")
            .float(self.percent)
            .end_object();
    }
}

impl ToJson for DiskIo {
    fn write_json(&self, json: &mut Json) {
        const FIELDS: [&str; 9] = [
            "read_count",
            "write_count",
            "read_bytes",
            "write_bytes",
            "read_time",
            "write_time",
            "read_merged_count",
            "write_merged_count",
            "busy_time",
        ];
        json.begin_object();
        for (name, value) in FIELDS.iter().zip(self.values()) {
            json.key(name).uint(value);
        }
        json.end_object();
    }
}

impl ToJson for NetIo {
    fn write_json(&self, json: &mut Json) {
        const FIELDS: [&str; 8] = [
            "bytes_sent",
            "bytes_recv",
            "packets_sent",
            "packets_recv",
            "errin",
            "errout",
            "dropin",
            "dropout",
        ];
        json.begin_object();
        for (name, value) in FIELDS.iter().zip(self.values()) {
            json.key(name).uint(value);
        }
        json.end_object();
    }
}

impl ToJson for NicAddr {
    fn write_json(&self, json: &mut Json) {
        json.begin_object();
        json.key("family").int(i64::from(self.family));
        json.key("address").str(&self.address);
        json.key("netmask");
        opt_str(json, &self.netmask);
        json.key("broadcast");
        opt_str(json, &self.broadcast);
        json.key("ptp");
        opt_str(json, &self.ptp);
        json.end_object();
    }
}

impl ToJson for NicStats {
    fn write_json(&self, json: &mut Json) {
        json.begin_object()
            .key("isup")
            .bool(self.isup)
            .key("duplex")
            .int(self.duplex as i64)
            .key("speed")
            .uint(u64::from(self.speed))
            .key("mtu")
            .uint(u64::from(self.mtu))
            .key("flags")
            .str(&self.flags)
            .end_object();
    }
}

impl ToJson for Address {
    fn write_json(&self, json: &mut Json) {
        match self {
            Address::None => {
                json.begin_array().end_array();
            }
            Address::Inet { ip, port } => {
                json.begin_object()
                    .key("ip")
                    .str(ip)
                    .key("port")
                    .uint(u64::from(*port))
                    .end_object();
            }
            Address::Path(path) => {
                json.os_str(path);
            }
        }
    }
}

impl ToJson for Connection {
    fn write_json(&self, json: &mut Json) {
        json.begin_object();
        json.key("fd").int(i64::from(self.fd));
        json.key("family").int(i64::from(self.family));
        json.key("type").int(i64::from(self.r#type));
        json.key("laddr");
        self.laddr.write_json(json);
        json.key("raddr");
        self.raddr.write_json(json);
        json.key("status").str(self.status);
        json.key("pid").opt_int(self.pid.map(i64::from));
        json.end_object();
    }
}

impl ToJson for Temperature {
    fn write_json(&self, json: &mut Json) {
        json.begin_object();
        json.key("label").str(&self.label);
        json.key("current").float(self.current);
        json.key("high");
        self.high.write_json(json);
        json.key("critical");
        self.critical.write_json(json);
        json.end_object();
    }
}

impl ToJson for Fan {
    fn write_json(&self, json: &mut Json) {
        json.begin_object()
            .key("label")
            .str(&self.label)
            .key("current")
            .int(self.current)
            .end_object();
    }
}

impl ToJson for Battery {
    fn write_json(&self, json: &mut Json) {
        json.begin_object();
        json.key("percent").float(self.percent);
        json.key("secsleft").int(self.secsleft);
        json.key("power_plugged");
        match self.power_plugged {
            Some(plugged) => json.bool(plugged),
            None => json.null(),
        };
        json.end_object();
    }
}

impl ToJson for User {
    fn write_json(&self, json: &mut Json) {
        json.begin_object();
        json.key("name").str(&self.name);
        json.key("terminal");
        opt_str(json, &self.terminal);
        json.key("host").str(&self.host);
        json.key("started").float(self.started);
        json.key("pid").int(i64::from(self.pid));
        json.end_object();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_string(value: &impl ToJson) -> String {
        let mut json = Json::new();
        value.write_json(&mut json);
        json.finish()
    }

    #[test]
    fn shapes_are_psutil_shapes() {
        let conn = Connection {
            fd: -1,
            family: libc::AF_INET,
            r#type: libc::SOCK_STREAM,
            laddr: Address::Inet {
                ip: "127.0.0.1".into(),
                port: 80,
            },
            raddr: Address::None,
            status: "LISTEN",
            pid: None,
        };
        assert_eq!(
            to_string(&conn),
            r#"{"fd":-1,"family":2,"type":1,"laddr":{"ip":"127.0.0.1","port":80},"raddr":[],"status":"LISTEN","pid":null}"#
        );
        let mut json = Json::new();
        write_named(
            &mut json,
            &[(
                "lo".to_string(),
                vec![NicAddr {
                    family: 17,
                    address: "00:00:00:00:00:00".into(),
                    netmask: None,
                    broadcast: None,
                    ptp: None,
                }],
            )],
        );
        assert_eq!(
            json.finish(),
            r#"{"lo":[{"family":17,"address":"00:00:00:00:00:00","netmask":null,"broadcast":null,"ptp":null}]}"#
        );
        assert_eq!(to_string(&[0.5, 1.0, 2.25]), "[0.5,1.0,2.25]");
        assert_eq!(to_string(&None::<Battery>), "null");
    }
}
