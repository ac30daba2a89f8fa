//! A minimal protobuf field scanner, used to count repeated fields before prost allocates
//! them (a 16 MiB manifest of two-byte empty entries would otherwise become millions of
//! structs).

/// One field: number, wire type and, for length-delimited fields, the payload.
pub(crate) struct Field<'a> {
    pub(crate) number: u64,
    pub(crate) payload: &'a [u8],
}

fn varint(buf: &mut &[u8]) -> Result<u64, &'static str> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let (&b, rest) = buf.split_first().ok_or("truncated varint")?;
        *buf = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes")
}

fn take<'a>(buf: &mut &'a [u8], n: u64) -> Result<&'a [u8], &'static str> {
    let n = usize::try_from(n).map_err(|_| "length too large")?;
    if n > buf.len() {
        return Err("truncated field");
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

/// Reads the next top-level field of `buf`, or `None` at the end. Groups are refused.
pub(crate) fn next_field<'a>(buf: &mut &'a [u8]) -> Result<Option<Field<'a>>, &'static str> {
    if buf.is_empty() {
        return Ok(None);
    }
    let key = varint(buf)?;
    let number = key >> 3;
    if number == 0 || number > u64::from(u32::MAX >> 3) {
        return Err("bad field number");
    }
    let payload = match key & 7 {
        0 => {
            varint(buf)?;
            &[][..]
        }
        1 => take(buf, 8)?,
        2 => {
            let len = varint(buf)?;
            take(buf, len)?
        }
        5 => take(buf, 4)?,
        _ => return Err("unsupported wire type"),
    };
    Ok(Some(Field { number, payload }))
}

/// How many times field `number` occurs at the top level of `buf`.
pub(crate) fn count(mut buf: &[u8], number: u64) -> Result<usize, &'static str> {
    let mut n = 0usize;
    while let Some(f) = next_field(&mut buf)? {
        if f.number == number {
            n = n.saturating_add(1);
        }
    }
    Ok(n)
}

/// The payload of the last occurrence of field `number` at the top level of `buf`.
pub(crate) fn last(mut buf: &[u8], number: u64) -> Result<Option<&[u8]>, &'static str> {
    let mut found = None;
    while let Some(f) = next_field(&mut buf)? {
        if f.number == number {
            found = Some(f.payload);
        }
    }
    Ok(found)
}

/// Appends `v` as a protobuf varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes `v` takes as a varint.
pub(crate) fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v));
            let mut s = &out[..];
            assert_eq!(varint(&mut s).unwrap(), v);
            assert!(s.is_empty());
        }
    }

    #[test]
    fn huge_length_prefix_is_an_error_not_an_allocation() {
        // field 4, length u32::MAX, then 3 bytes.
        let mut b = vec![0x22];
        put_varint(&mut b, u64::from(u32::MAX));
        b.extend_from_slice(&[1, 2, 3]);
        assert!(count(&b, 4).is_err());
    }
}
