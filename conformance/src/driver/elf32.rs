//! A hand-made static i386 ELF that makes one 32-bit syscall through
//! `int 0x80` (with zero arguments) and exits with the errno it got, 0 if the
//! call returned a non-negative value: the probe for seccomp's compat
//! architectures (`SCMP_ARCH_X86`), following the exit-code convention of
//! `crate::probe`. No toolchain needed, just bytes: an ELF32 header, one
//! PT_LOAD covering the whole file, and 30 bytes of code.

/// Where the file is mapped (the traditional i386 base).
const BASE: u32 = 0x0804_8000;
const EHDR_SIZE: u16 = 52;
const PHDR_SIZE: u16 = 32;

/// i386 syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl).
pub const I386_GETPPID: u32 = 64;
pub const I386_GETPGRP: u32 = 65;

/// The code: syscall `nr`, then `exit(ret < 0 ? -ret : 0)`.
fn code(nr: u32) -> Vec<u8> {
    let mut c = vec![0xb8]; // mov eax, nr
    c.extend_from_slice(&nr.to_le_bytes());
    c.extend_from_slice(&[
        0x31, 0xdb, // xor ebx, ebx
        0x31, 0xc9, // xor ecx, ecx
        0x31, 0xd2, // xor edx, edx
        0xcd, 0x80, // int 0x80
        0x31, 0xdb, // xor ebx, ebx
        0x85, 0xc0, // test eax, eax
        0x79, 0x04, // jns exit (over the next 4 bytes)
        0xf7, 0xd8, // neg eax
        0x89, 0xc3, // mov ebx, eax
        0xb8, 0x01, 0x00, 0x00, 0x00, // exit: mov eax, 1 (exit)
        0xcd, 0x80, // int 0x80
    ]);
    c
}

/// The whole executable for syscall `nr`.
pub fn syscall_probe(nr: u32) -> Vec<u8> {
    let code = code(nr);
    let size = u32::from(EHDR_SIZE + PHDR_SIZE) + code.len() as u32;
    let mut f = Vec::with_capacity(size as usize);
    // e_ident: magic, ELFCLASS32, little endian, version 1, SysV ABI.
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 1, 1, 1, 0]);
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
    f.extend_from_slice(&3u16.to_le_bytes()); // e_machine: EM_386
    f.extend_from_slice(&1u32.to_le_bytes()); // e_version
    let entry = BASE + u32::from(EHDR_SIZE + PHDR_SIZE);
    f.extend_from_slice(&entry.to_le_bytes()); // e_entry
    f.extend_from_slice(&u32::from(EHDR_SIZE).to_le_bytes()); // e_phoff
    f.extend_from_slice(&0u32.to_le_bytes()); // e_shoff
    f.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    f.extend_from_slice(&EHDR_SIZE.to_le_bytes()); // e_ehsize
    f.extend_from_slice(&PHDR_SIZE.to_le_bytes()); // e_phentsize
    f.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    f.extend_from_slice(&[0; 6]); // e_shentsize, e_shnum, e_shstrndx
                                  // The one program header: PT_LOAD of the whole file, read + execute.
    for word in [1, 0, BASE, BASE, size, size, 5, 0x1000] {
        f.extend_from_slice(&u32::to_le_bytes(word));
    }
    f.extend_from_slice(&code);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(f: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([f[at], f[at + 1]])
    }

    fn u32_at(f: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]])
    }

    #[test]
    fn header_describes_one_loadable_i386_segment() {
        let f = syscall_probe(I386_GETPPID);
        assert_eq!(&f[..4], b"\x7fELF");
        assert_eq!(f[4], 1, "ELFCLASS32");
        assert_eq!(u16_at(&f, 18), 3, "EM_386");
        assert_eq!(u16_at(&f, 40), EHDR_SIZE);
        assert_eq!(u16_at(&f, 44), 1, "one program header");
        let ph = usize::from(EHDR_SIZE);
        assert_eq!(u32_at(&f, ph), 1, "PT_LOAD");
        assert_eq!(u32_at(&f, ph + 16) as usize, f.len(), "p_filesz");
        let entry = u32_at(&f, 24);
        assert_eq!((entry - BASE) as usize, ph + usize::from(PHDR_SIZE));
    }

    #[test]
    fn code_loads_the_syscall_number_and_jumps_over_the_negation() {
        let f = syscall_probe(I386_GETPGRP);
        let code = &f[usize::from(EHDR_SIZE + PHDR_SIZE)..];
        assert_eq!(code[0], 0xb8);
        assert_eq!(u32_at(code, 1), I386_GETPGRP);
        let jns = code.iter().position(|b| *b == 0x79).unwrap();
        // The jump lands on `mov eax, 1`.
        assert_eq!(code[jns + 2 + usize::from(code[jns + 1])], 0xb8);
        assert_eq!(code.len(), 30);
    }
}
