//! Replacing a function that liblttng-ust calls through its GOT, after it was loaded.
//!
//! See [`crate::refcount`] for why. Everything here reads the dynamic section of a loaded ELF
//! object (found with `dl_iterate_phdr`) to find the relocations that bind a symbol in that
//! object, and swaps the address stored in the slot. Supported: 64-bit x86 and Arm (RELA
//! relocations, `JUMP_SLOT` and `GLOB_DAT`); elsewhere [`plan`] returns an error and the caller
//! falls back to polling.
//!
//! Three rules keep the swap safe:
//!
//! - the wrapper forwards to the symbol's definition as `dlsym` finds it, never to what a slot
//!   holds: a slot of a library loaded without `BIND_NOW` holds a PLT stub until its first call,
//!   and that stub would overwrite the wrapper. A slot holding anything else (somebody else's
//!   hook) is refused ([`forward_to`]);
//! - only pages the dynamic loader made read-only (entirely inside the RELRO segment, rounded
//!   down to pages) are made writable and read-only again: the partial last page is shared with
//!   `.data` ([`page_to_unprotect`]);
//! - every slot of every symbol is patched, or none ([`patch_all`]).

use core::ffi::{CStr, c_char, c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_GNU_RELRO: u32 = 0x6474_e552;
const PF_X: u32 = 1;
const DT_NULL: i64 = 0;
const DT_PLTRELSZ: i64 = 2;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_RELA: i64 = 7;
const DT_RELASZ: i64 = 8;
const DT_PLTREL: i64 = 20;
const DT_JMPREL: i64 = 23;

#[cfg(target_arch = "x86_64")]
const SLOT_TYPES: &[u32] = &[
    7, /* R_X86_64_JUMP_SLOT */
    6, /* R_X86_64_GLOB_DAT */
];
#[cfg(target_arch = "aarch64")]
const SLOT_TYPES: &[u32] = &[
    1026, /* R_AARCH64_JUMP_SLOT */
    1025, /* R_AARCH64_GLOB_DAT */
];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const SLOT_TYPES: &[u32] = &[];

#[repr(C)]
struct Elf64Dyn {
    tag: i64,
    val: u64,
}

#[repr(C)]
struct Elf64Rela {
    offset: u64,
    info: u64,
    addend: i64,
}

#[repr(C)]
struct Elf64Sym {
    name: u32,
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

/// What `dl_iterate_phdr` tells about the object that contains an address.
#[derive(Default)]
struct Object {
    found: bool,
    base: usize,
    dynamic: usize,
    relro: Option<(usize, usize)>,
    /// Its executable `PT_LOAD` segment(s), where its PLT stubs are.
    code: core::ops::Range<usize>,
}

struct Search {
    inside: usize,
    object: Object,
}

unsafe extern "C" fn visit(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: `data` is the `Search` that `find_object` passed, alive for the whole iteration;
    // `info` and its program headers are valid during the callback (dl_iterate_phdr contract).
    unsafe {
        let search = &mut *(data as *mut Search);
        let info = &*info;
        let base = info.dlpi_addr as usize;
        let phdrs = core::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
        let contains = phdrs.iter().any(|ph| {
            ph.p_type == PT_LOAD && {
                let start = base + ph.p_vaddr as usize;
                (start..start + ph.p_memsz as usize).contains(&search.inside)
            }
        });
        if !contains {
            return 0;
        }
        let mut object = Object {
            found: true,
            base,
            ..Object::default()
        };
        let (mut low, mut high) = (usize::MAX, 0);
        for ph in phdrs {
            match ph.p_type {
                PT_LOAD if ph.p_flags & PF_X != 0 => {
                    let start = base + ph.p_vaddr as usize;
                    low = low.min(start);
                    high = high.max(start + ph.p_memsz as usize);
                }
                PT_DYNAMIC => object.dynamic = base + ph.p_vaddr as usize,
                PT_GNU_RELRO => {
                    let start = base + ph.p_vaddr as usize;
                    object.relro = Some((start, start + ph.p_memsz as usize));
                }
                _ => {}
            }
        }
        object.code = low..high;
        search.object = object;
        1
    }
}

fn find_object(inside: usize) -> Option<Object> {
    let mut search = Search {
        inside,
        object: Object::default(),
    };
    // SAFETY: `visit` only dereferences what dl_iterate_phdr hands it and our `search`.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut search as *mut Search as *mut c_void) };
    (search.object.found && search.object.dynamic != 0).then_some(search.object)
}

/// Addresses of the GOT slots through which the object containing `inside` calls or reads
/// `symbol`.
fn find_slots(inside: usize, symbol: &CStr) -> Result<(Vec<usize>, Object), String> {
    if SLOT_TYPES.is_empty() {
        return Err("GOT patching is implemented for x86_64 and aarch64 only".into());
    }
    let object = find_object(inside).ok_or("liblttng-ust's ELF object was not found")?;
    let (mut jmprel, mut pltrelsz, mut pltrel) = (0usize, 0usize, 0i64);
    let (mut rela, mut relasz, mut symtab, mut strtab) = (0usize, 0usize, 0usize, 0usize);
    // glibc rewrites the address entries of a writable .dynamic to run-time addresses; where
    // it does not, they are still relative to the load base.
    let addr = |v: u64| {
        let v = v as usize;
        if v < object.base { v + object.base } else { v }
    };
    // SAFETY: PT_DYNAMIC of a loaded object points at its DT_NULL-terminated dynamic array.
    unsafe {
        let mut d = object.dynamic as *const Elf64Dyn;
        while (*d).tag != DT_NULL {
            let val = (*d).val;
            match (*d).tag {
                DT_JMPREL => jmprel = addr(val),
                DT_PLTRELSZ => pltrelsz = val as usize,
                DT_PLTREL => pltrel = val as i64,
                DT_RELA => rela = addr(val),
                DT_RELASZ => relasz = val as usize,
                DT_SYMTAB => symtab = addr(val),
                DT_STRTAB => strtab = addr(val),
                _ => {}
            }
            d = d.add(1);
        }
    }
    if symtab == 0 || strtab == 0 {
        return Err("liblttng-ust has no dynamic symbol table".into());
    }
    let mut tables = Vec::new();
    if jmprel != 0 && pltrel == DT_RELA {
        tables.push((jmprel, pltrelsz));
    }
    if rela != 0 {
        tables.push((rela, relasz));
    }
    let mut slots = Vec::new();
    for (start, size) in tables {
        let count = size / core::mem::size_of::<Elf64Rela>();
        // SAFETY: DT_JMPREL/DT_RELA with their sizes describe arrays of Elf64_Rela in the
        // loaded object; symbol indexes point into DT_SYMTAB and names into DT_STRTAB.
        unsafe {
            let relas = core::slice::from_raw_parts(start as *const Elf64Rela, count);
            for r in relas {
                let kind = (r.info & 0xffff_ffff) as u32;
                if !SLOT_TYPES.contains(&kind) {
                    continue;
                }
                let sym = &*((symtab as *const Elf64Sym).add((r.info >> 32) as usize));
                let name = CStr::from_ptr((strtab as *const c_char).add(sym.name as usize));
                if name == symbol {
                    slots.push(object.base + r.offset as usize);
                }
            }
        }
    }
    if slots.is_empty() {
        return Err(format!(
            "no GOT slot for {} in liblttng-ust",
            symbol.to_string_lossy()
        ));
    }
    Ok((slots, object))
}

/// The GOT slots of one symbol, found and checked, not yet changed.
pub(crate) struct Plan {
    slots: Vec<usize>,
    relro: Option<(usize, usize)>,
    original: usize,
}

impl Plan {
    /// The function calls must be forwarded to (see [`forward_to`]).
    pub(crate) fn original(&self) -> usize {
        self.original
    }
}

/// Finds every GOT slot through which the object containing `inside` reaches `symbol`, and
/// decides (see [`forward_to`]) which function a wrapper installed there must forward to.
pub(crate) fn plan(inside: usize, symbol: &CStr, replacement: usize) -> Result<Plan, String> {
    let (slots, object) = find_slots(inside, symbol)?;
    let values: Vec<usize> = slots
        .iter()
        .map(|&s| {
            // SAFETY: `s` is an 8-byte aligned GOT entry of a loaded object, read through an
            // atomic view because the library's threads may read it concurrently.
            unsafe { &*(s as *const AtomicUsize) }.load(Ordering::Acquire)
        })
        .collect();
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name.
    let resolved = unsafe { libc::dlsym(libc::RTLD_DEFAULT, symbol.as_ptr()) } as usize;
    let original = forward_to(&values, resolved, replacement, &object.code)
        .map_err(|why| format!("{}: {why}; not patching", symbol.to_string_lossy()))?;
    Ok(Plan {
        slots,
        relro: object.relro,
        original,
    })
}

/// The function a wrapper must forward to, given what the slots hold (`values`), what `dlsym`
/// finds (`resolved`), and where the patched object's code is mapped (`code`).
///
/// A slot holds `resolved` once bound; before its first call a lazily bound `JUMP_SLOT` (the
/// object was loaded without `BIND_NOW`) holds the address of the object's own PLT stub, which
/// would resolve the symbol and overwrite the slot, so the wrapper must forward to `resolved`,
/// never to the slot's value. Anything else in a slot is somebody else's hook: refused, as is
/// our own `replacement` (already patched).
fn forward_to(
    values: &[usize],
    resolved: usize,
    replacement: usize,
    code: &core::ops::Range<usize>,
) -> Result<usize, String> {
    if values.contains(&replacement) {
        return Err("already patched".into());
    }
    if resolved == 0 {
        return Err("dlsym does not find it".into());
    }
    match values
        .iter()
        .find(|&&v| v != resolved && !code.contains(&v))
    {
        Some(v) => Err(format!(
            "a GOT slot holds {v:#x}, neither its definition ({resolved:#x}) nor a lazy-binding stub"
        )),
        None => Ok(resolved),
    }
}

/// The page to make writable for a store at `slot`, if any: a page the dynamic loader made
/// read-only, i.e. one entirely inside the RELRO segment rounded down to pages at both ends
/// (glibc's `_dl_protect_relro` and musl protect `[start & -page, end & -page)`). A slot in the
/// last, partial page shares it with `.data`, which the loader left writable: that page is not
/// touched, so its protection is never narrowed (on 16K or 64K pages, a `PROT_READ` there
/// would make `.data` read-only).
fn page_to_unprotect(slot: usize, relro: Option<(usize, usize)>, page: usize) -> Option<usize> {
    let (start, end) = relro?;
    let mask = !(page - 1);
    let p = slot & mask;
    (start & mask <= p && p < end & mask).then_some(p)
}

/// Stores each replacement in every slot of its plan, all or nothing: every page to unprotect
/// is made writable first (on any failure the ones done are restored and nothing is stored),
/// then the stores (which cannot fail), then the pages are read-only again.
///
/// # Safety
///
/// Each replacement must be a function with the same signature as its plan's symbol that
/// forwards to `plan.original()`, and must be able to read that address before this is called;
/// nothing else may patch these slots concurrently.
pub(crate) unsafe fn patch_all(patches: &[(&Plan, usize)]) -> Result<(), String> {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let mut pages: Vec<usize> = patches
        .iter()
        .flat_map(|(plan, _)| {
            plan.slots
                .iter()
                .filter_map(|&slot| page_to_unprotect(slot, plan.relro, page))
        })
        .collect();
    pages.sort_unstable();
    pages.dedup();
    let protect = |p: usize, prot: c_int| {
        // SAFETY: `p` is a page of the patched object's RELRO segment, which the loader made
        // read-only after relocation; only its protection changes.
        unsafe { libc::mprotect(p as *mut c_void, page, prot) }
    };
    for (i, &p) in pages.iter().enumerate() {
        if protect(p, libc::PROT_READ | libc::PROT_WRITE) != 0 {
            let err = std::io::Error::last_os_error();
            for &q in &pages[..i] {
                protect(q, libc::PROT_READ);
            }
            return Err(format!(
                "mprotect of liblttng-ust's GOT failed: {err}; nothing patched"
            ));
        }
    }
    for &(plan, replacement) in patches {
        for &slot in &plan.slots {
            // SAFETY: as in `plan`; an aligned 8-byte atomic store into a writable page, so a
            // concurrent caller jumps to either the old or the new function, both of which
            // reach the original.
            unsafe { &*(slot as *const AtomicUsize) }.store(replacement, Ordering::Release);
        }
    }
    for &p in &pages {
        // The protection RELRO had; should this fail, the page merely stays writable.
        protect(p, libc::PROT_READ);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> usize {
        // SAFETY: no preconditions.
        unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
    }

    /// `pages` fresh read-write anonymous pages (never unmapped: tests only).
    fn map(pages: usize) -> usize {
        // SAFETY: a new private anonymous mapping; nothing else refers to it.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                pages * page(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        p as usize
    }

    fn protect(addr: usize, pages: usize, prot: c_int) {
        // SAFETY: pages of a mapping `map` made for this test.
        let rc = unsafe { libc::mprotect(addr as *mut c_void, pages * page(), prot) };
        assert_eq!(rc, 0);
    }

    /// The permissions column of /proc/self/maps for the mapping containing `addr`.
    fn perms(addr: usize) -> String {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        for line in maps.lines() {
            let mut cols = line.split_whitespace();
            let range = cols.next().unwrap();
            let (a, b) = range.split_once('-').unwrap();
            let (a, b) = (
                usize::from_str_radix(a, 16).unwrap(),
                usize::from_str_radix(b, 16).unwrap(),
            );
            if (a..b).contains(&addr) {
                return cols.next().unwrap().to_string();
            }
        }
        panic!("{addr:#x} is not mapped");
    }

    fn read(slot: usize) -> usize {
        // SAFETY: an aligned word of a test mapping.
        unsafe { &*(slot as *const AtomicUsize) }.load(Ordering::Relaxed)
    }

    fn plan(slot: usize, relro: (usize, usize)) -> Plan {
        Plan {
            slots: vec![slot],
            relro: Some(relro),
            original: read(slot),
        }
    }

    /// RELRO ends mid-page (16K/64K pages on arm64 make this the common case): the loader
    /// protected only the pages fully inside it, and the last page (shared with `.data`) stays
    /// writable; patching a slot there must leave it writable.
    #[test]
    fn slot_in_a_partial_relro_page_leaves_it_writable() {
        let p = page();
        let base = map(2);
        let relro = (base + 0x20, base + p + p / 2);
        protect(base, 1, libc::PROT_READ); // what ld.so does: rounded-down RELRO only
        let slot = base + p + 8;
        // SAFETY: test memory; nothing calls through it.
        unsafe { patch_all(&[(&plan(slot, relro), 0x1234)]) }.unwrap();
        assert_eq!(read(slot), 0x1234);
        assert_eq!(
            perms(base + p),
            "rw-p",
            "the partial page lost its write permission"
        );
        assert_eq!(perms(base), "r--p");
    }

    /// A slot in a page fully inside RELRO: made writable for the store, read-only again after.
    #[test]
    fn slot_in_a_full_relro_page_is_read_only_again() {
        let p = page();
        let base = map(2);
        let relro = (base, base + p + p / 2);
        protect(base, 1, libc::PROT_READ);
        let slot = base + 16;
        // SAFETY: test memory.
        unsafe { patch_all(&[(&plan(slot, relro), 0x5678)]) }.unwrap();
        assert_eq!(read(slot), 0x5678);
        assert_eq!(perms(base), "r--p");
    }

    /// Which pages are unprotected, for the page sizes of x86_64 and arm64 kernels (only 4K
    /// pages are exercised on real memory here).
    #[test]
    fn pages_to_unprotect_for_4k_16k_64k_pages() {
        // liblttng-ust 2.13.5 on Debian x86_64: RELRO 0x7b520..0x7f000 (ends on a 4K page).
        let relro = Some((0x7b520, 0x7f000));
        assert_eq!(page_to_unprotect(0x7e008, relro, 0x1000), Some(0x7e000));
        assert_eq!(page_to_unprotect(0x7b528, relro, 0x1000), Some(0x7b000));
        assert_eq!(
            page_to_unprotect(0x7f008, relro, 0x1000),
            None,
            "past RELRO"
        );
        // The same layout on 16K pages: RELRO ends mid-page, so 0x7c000.. is .data's page.
        assert_eq!(page_to_unprotect(0x7b528, relro, 0x4000), Some(0x78000));
        assert_eq!(page_to_unprotect(0x7e008, relro, 0x4000), None);
        // On 64K pages the whole segment is in one partial page: nothing is read-only.
        assert_eq!(page_to_unprotect(0x7b528, relro, 0x10000), None);
        assert_eq!(page_to_unprotect(0x7e008, relro, 0x10000), None);
        // A RELRO covering several 64K pages.
        let big = Some((0x10_0000, 0x12_8000));
        assert_eq!(page_to_unprotect(0x11_0008, big, 0x10000), Some(0x11_0000));
        assert_eq!(page_to_unprotect(0x12_0008, big, 0x10000), None);
        assert_eq!(page_to_unprotect(0x11_0008, None, 0x1000), None, "no RELRO");
    }

    #[test]
    fn forward_to_the_definition_bound_or_lazy() {
        let object = 0x1000..0x9000;
        let (def, ours) = (0x20_0000, 0x30_0000);
        // BIND_NOW: every slot holds the definition.
        assert_eq!(forward_to(&[def, def], def, ours, &object), Ok(def));
        // Lazy binding: a JUMP_SLOT still holds liblttng-ust's own PLT stub.
        assert_eq!(forward_to(&[0x2016], def, ours, &object), Ok(def));
        assert_eq!(forward_to(&[0x2016, def], def, ours, &object), Ok(def));
        // Someone else's hook (another copy of cotrace-ust, say): refused.
        assert!(forward_to(&[0x40_0000], def, ours, &object).is_err());
        assert!(forward_to(&[def, 0x40_0000], def, ours, &object).is_err());
        // Ours already.
        assert!(forward_to(&[ours], def, ours, &object).is_err());
        // No definition found.
        assert!(forward_to(&[def], 0, ours, &object).is_err());
    }

    /// If one slot cannot be made writable, no slot changes.
    #[test]
    fn patching_is_all_or_nothing() {
        let p = page();
        let base = map(3);
        // SAFETY: unmaps the last page of the test mapping: a RELRO page that cannot be
        // made writable (mprotect fails with ENOMEM).
        assert_eq!(unsafe { libc::munmap((base + 2 * p) as *mut c_void, p) }, 0);
        let relro = (base, base + 3 * p);
        protect(base, 2, libc::PROT_READ);
        let good = plan(base + 8, relro);
        let bad = Plan {
            slots: vec![base + 2 * p + 8],
            relro: Some(relro),
            original: 0,
        };
        // SAFETY: test memory.
        let r = unsafe { patch_all(&[(&good, 0x1111), (&bad, 0x2222)]) };
        assert!(r.is_err());
        assert_eq!(read(base + 8), 0, "half patched");
        assert_eq!(perms(base), "r--p");
    }
}
