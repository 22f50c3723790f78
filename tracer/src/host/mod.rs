//! The platform layer: the process reader the table, the attribute collector and the
//! psutil-style API read through, and the records it returns.
//!
//! On Linux the reader is [`crate::procfs::Procfs`], exact to psutil. Elsewhere (macOS,
//! Windows, the BSDs) it is [`crate::sysinfo_host::SysinfoHost`], built on the `sysinfo`
//! crate: it offers the same methods and records, fills what the platform tells, and answers
//! [`ProcError::Unsupported`] for the rest, which callers show as null. Both readers are
//! compiled on Linux, so the portable one is tested here against the exact one.

pub mod os;
mod records;

pub use records::*;

/// The platform's process reader.
#[cfg(native_linux)]
pub type Host = crate::procfs::Procfs;
/// The platform's process reader.
#[cfg(not(native_linux))]
pub type Host = crate::sysinfo_host::SysinfoHost;

/// Clock ticks per second, the unit of [`Stat`]'s times: `sysconf(_SC_CLK_TCK)` on Linux;
/// elsewhere the readers convert what they know into 100 ticks a second.
pub fn clock_ticks() -> u64 {
    #[cfg(native_linux)]
    {
        crate::platform::clock_ticks()
    }
    #[cfg(not(native_linux))]
    {
        100
    }
}
