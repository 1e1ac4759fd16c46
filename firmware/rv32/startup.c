/* RV32 startup for the QEMU test firmware (qemu-system-riscv32 -M virt -bios none, machine mode).
 *
 * _start (linked at 0x80000000) sets gp and sp and points mtvec at a trap entry; start_c copies .data,
 * zeroes .bss and runs main(). Any trap (illegal instruction from a wrong -march, misaligned or unmapped
 * access, ...) reports through runner.c's firmware_fault(mcause, mepc, sp): FAULT and a non-zero QEMU exit.
 *
 * Platform interface used by runner.c:
 *   long semihost_call(long op, const void *arg)   RISC-V semihosting, op in a0, arg in a1, result in a0
 * The semihosting trap is the uncompressed sequence slli x0,x0,0x1f; ebreak; srai x0,x0,7, which QEMU
 * recognises only as a whole, hence .option norvc (and the alignment keeps it within one page).
 * CSR instructions need Zicsr, which the rv32imc -march does not name (Debian has no rv32imc_zicsr
 * libraries): they are enabled locally with .option arch, +zicsr.
 */
#include <stdint.h>

extern uint32_t __data_load[];
extern uint32_t __data_start[];
extern uint32_t __data_end[];
extern uint32_t __bss_start[];
extern uint32_t __bss_end[];

int main(void);
void firmware_exit(int status) __attribute__((noreturn));
void firmware_fault(uint32_t cause, uint32_t pc, uint32_t sp) __attribute__((noreturn));
void start_c(void) __attribute__((noreturn, used));
void trap_report(uint32_t sp) __attribute__((noreturn, used));

__asm__(".section .text.start, \"ax\", @progbits\n"
        ".globl _start\n"
        "_start:\n"
        ".option push\n"
        ".option norelax\n"
        "    la gp, __global_pointer$\n"
        ".option pop\n"
        "    la sp, __stack_top\n"
        ".option push\n"
        ".option arch, +zicsr\n"
        "    la t0, trap_entry\n"
        "    csrw mtvec, t0\n"
        ".option pop\n"
        "    j start_c\n"
        "\n"
        ".section .text.trap_entry, \"ax\", @progbits\n"
        ".balign 4\n"
        "trap_entry:\n"
        "    mv a0, sp\n"
        "    la sp, __stack_top\n"
        "    j trap_report\n"
        "\n"
        ".section .text.semihost_call, \"ax\", @progbits\n"
        ".balign 16\n"
        ".globl semihost_call\n"
        "semihost_call:\n"
        ".option push\n"
        ".option norvc\n"
        "    slli x0, x0, 0x1f\n"
        "    ebreak\n"
        "    srai x0, x0, 7\n"
        ".option pop\n"
        "    ret\n");

/* Reports from a fresh stack (the trap may come from a stack overflow); sp is the SP at the trap. */
void trap_report(uint32_t sp)
{
    uint32_t cause;
    uint32_t pc;
    __asm__ volatile(".option push\n\t.option arch, +zicsr\n\tcsrr %0, mcause\n\tcsrr %1, mepc\n\t.option pop"
                     : "=r"(cause), "=r"(pc));
    firmware_fault(cause, pc, sp);
}

void start_c(void)
{
    const uint32_t *src = __data_load;
    uint32_t *dst;
    for (dst = __data_start; dst < __data_end; dst++, src++) {
        *dst = *src;
    }
    for (dst = __bss_start; dst < __bss_end; dst++) {
        *dst = 0;
    }
    firmware_exit(main());
}
