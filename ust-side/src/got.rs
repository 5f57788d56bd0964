//! Replacing a function that liblttng-ust calls through its GOT, after it was loaded.
//!
//! See [`crate::refcount`] for why. Everything here reads the dynamic section of a loaded ELF
//! object (found with `dl_iterate_phdr`) to find the relocations that bind a symbol in that
//! object, and swaps the address stored in the slot. Supported: 64-bit x86 and Arm (RELA
//! relocations, `JUMP_SLOT` and `GLOB_DAT`); elsewhere [`patch`] returns an error and the caller
//! falls back to polling.

use core::ffi::{CStr, c_char, c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_GNU_RELRO: u32 = 0x6474_e552;
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
        for ph in phdrs {
            match ph.p_type {
                PT_DYNAMIC => object.dynamic = base + ph.p_vaddr as usize,
                PT_GNU_RELRO => {
                    let start = base + ph.p_vaddr as usize;
                    object.relro = Some((start, start + ph.p_memsz as usize));
                }
                _ => {}
            }
        }
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
    /// The address the slots hold now (the function calls must be forwarded to).
    pub(crate) fn original(&self) -> usize {
        self.original
    }
}

/// Finds every GOT slot through which the object containing `inside` reaches `symbol`, checks
/// they agree and do not already hold `replacement`.
pub(crate) fn plan(inside: usize, symbol: &CStr, replacement: usize) -> Result<Plan, String> {
    let (slots, object) = find_slots(inside, symbol)?;
    let load = |s: usize| {
        // SAFETY: `s` is an 8-byte aligned GOT entry of a loaded object, read through an
        // atomic view because the library's threads may read it concurrently.
        unsafe { &*(s as *const AtomicUsize) }.load(Ordering::Acquire)
    };
    let original = load(slots[0]);
    if original == replacement {
        return Err(format!("{} is already patched", symbol.to_string_lossy()));
    }
    if slots.iter().any(|&s| load(s) != original) {
        return Err(format!(
            "the GOT slots of {} disagree; not patching",
            symbol.to_string_lossy()
        ));
    }
    Ok(Plan {
        slots,
        relro: object.relro,
        original,
    })
}

/// Stores `replacement` in every slot of `plan`.
///
/// # Safety
///
/// `replacement` must be a function with the same signature as the symbol that forwards to
/// `plan.original()`, and must be able to read that address before this is called; nothing else
/// may patch these slots concurrently.
pub(crate) unsafe fn apply(plan: &Plan, replacement: usize) -> Result<(), String> {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    for &slot in &plan.slots {
        let in_relro = plan
            .relro
            .is_some_and(|(start, end)| (start..end).contains(&slot));
        let page_start = slot & !(page - 1);
        if in_relro {
            // SAFETY: the page belongs to the library's RELRO segment, mapped read-only after
            // relocation; making it writable for one aligned store changes nothing else.
            let rc = unsafe {
                libc::mprotect(
                    page_start as *mut c_void,
                    page,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            if rc != 0 {
                return Err(format!(
                    "mprotect of liblttng-ust's GOT failed: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        // SAFETY: as in `plan`; an aligned 8-byte atomic store, so a concurrent caller jumps
        // to either the old or the new function, both of which forward to the original.
        unsafe { &*(slot as *const AtomicUsize) }.store(replacement, Ordering::Release);
        if in_relro {
            // SAFETY: restores the read-only protection RELRO had.
            unsafe { libc::mprotect(page_start as *mut c_void, page, libc::PROT_READ) };
        }
    }
    Ok(())
}
