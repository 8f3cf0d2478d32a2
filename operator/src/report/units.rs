//! Byte counts as people read them in tables: binary units with one decimal (`69.0 MiB`,
//! `21.2 KiB`). JSON output keeps the bytes.

/// `n` bytes in the largest binary unit that keeps the number at 1 or more.
pub fn human_bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n.abs() < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_people_say_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1_023), "1023 B");
        assert_eq!(human_bytes(21_700), "21.2 KiB");
        assert_eq!(human_bytes(72_314_880), "69.0 MiB");
        assert_eq!(human_bytes(72_279_698), "68.9 MiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(human_bytes(-2048), "-2.0 KiB");
    }
}
