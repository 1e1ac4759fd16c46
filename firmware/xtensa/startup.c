/* Xtensa lx106 startup for the QEMU test firmware (qemu-system-xtensa -M sim -cpu lx106; call0 ABI).
 *
 * QEMU's sim machine starts at the core's reset vector, 0x50000000 (its sysrom), not at the ELF entry: the
 * reset stub there jumps to _start, which sets the SP, points VECBASE at this file's exception vectors and
 * clears PS.EXCM (so that an exception is not taken as a double exception), then start_c copies .data, zeroes
 * .bss and runs main(). Any exception (illegal instruction, unaligned or unmapped access, ...) reports through
 * runner.c's firmware_fault(EXCCAUSE, EPC1, SP), a debug exception (break) as cause 0xdb with EPC2: FAULT and
 * a non-zero QEMU exit instead of a hang.
 *
 * Platform interface used by runner.c:
 *   long semihost_call(long op, const void *arg)   the ARM semihosting operations runner.c uses (OPEN, CLOSE,
 *   WRITE0, READ, EXIT), carried out with QEMU's Xtensa simcall (the Xtensa ISS calls: a2 = call number,
 *   a3..a5 = arguments, result in a2), whose numbers and arguments differ from ARM's.
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
long semihost_call(long op, const void *arg);
void start_c(void) __attribute__((noreturn, used));

/* The reset vector: a jump through a literal (_start is out of reach of a direct jump). */
__asm__(".section .reset_vector, \"ax\"\n"
        ".globl _reset\n"
        "_reset:\n"
        "    j 1f\n"
        "    .align 4\n"
        "2:  .word _start\n"
        "1:  l32r a2, 2b\n"
        "    jx a2\n"
        "\n"
        ".section .text.start, \"ax\"\n"
        ".literal_position\n"
        ".align 4\n"
        ".globl _start\n"
        "_start:\n"
        "    movi a1, __stack_top\n"
        "    movi a2, _vectors\n"
        "    wsr a2, vecbase\n"
        /* PS: UM (the user vector), EXCM clear, INTLEVEL 1: below the debug level (2), so that break traps;
         * no interrupt is enabled (INTENABLE is 0 at reset) */
        "    movi a2, 0x21\n"
        "    wsr a2, ps\n"
        "    rsync\n"
        "    movi a0, start_c\n"
        "    callx0 a0\n"
        "\n"
        /* VECBASE-relative vectors of the lx106: debug 0x10, NMI 0x20, kernel 0x30, user 0x50, double 0x70 */
        ".section .vectors, \"ax\"\n"
        ".align 4\n"
        ".globl _vectors\n"
        "_vectors:\n"
        "    .org _vectors + 0x10\n"
        "    j debug_entry\n"
        "    .org _vectors + 0x20\n"
        "    j fault_entry\n"
        "    .org _vectors + 0x30\n"
        "    j fault_entry\n"
        "    .org _vectors + 0x50\n"
        "    j fault_entry\n"
        "    .org _vectors + 0x70\n"
        "    j fault_entry\n"
        ".literal_position\n"
        ".align 4\n"
        /* Reports from a fresh stack (the exception may come from a stack overflow). */
        "fault_entry:\n"
        "    rsr a2, exccause\n"
        "    rsr a3, epc1\n"
        "    j 1f\n"
        /* a debug exception (break, as __builtin_trap emits): at the lx106's debug level 2, its pc in EPC2 */
        "debug_entry:\n"
        "    movi a2, 0xdb\n"
        "    rsr a3, epc2\n"
        "1:  mov a4, a1\n"
        "    movi a1, __stack_top\n"
        "    movi a0, firmware_fault\n"
        "    callx0 a0\n");

/* QEMU's Xtensa simcall numbers (target/xtensa/xtensa-semi.c). */
#define SIMCALL_EXIT 1
#define SIMCALL_READ 3
#define SIMCALL_WRITE 4
#define SIMCALL_OPEN 5
#define SIMCALL_CLOSE 6
/* The ARM semihosting operations that runner.c issues. */
#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE0 0x04
#define SYS_READ 0x06
#define SYS_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static long simcall(long call, long arg1, long arg2, long arg3)
{
    register long a2 __asm__("a2") = call;
    register long a3 __asm__("a3") = arg1;
    register long a4 __asm__("a4") = arg2;
    register long a5 __asm__("a5") = arg3;
    __asm__ volatile("simcall" : "+r"(a2), "+r"(a3) : "r"(a4), "r"(a5) : "memory");
    return a2;
}

/* ARM's argument blocks and results, from the simcalls: SYS_READ returns the bytes NOT read, SYS_OPEN -1 on
 * failure (the file is opened read-only: ARM mode 1, "rb", is the only one runner.c uses). */
long semihost_call(long op, const void *arg)
{
    const long *args = (const long *)arg;
    const char *text = (const char *)arg;
    long length = 0;
    long done;
    switch (op) {
    case SYS_OPEN:
        return simcall(SIMCALL_OPEN, args[0], 0, 0);
    case SYS_CLOSE:
        return simcall(SIMCALL_CLOSE, args[0], 0, 0);
    case SYS_WRITE0:
        while (text[length] != '\0') {
            length++;
        }
        return simcall(SIMCALL_WRITE, 1, (long)(uintptr_t)text, length);
    case SYS_READ:
        done = simcall(SIMCALL_READ, args[0], args[1], args[2]);
        return done < 0 ? args[2] : args[2] - done;
    case SYS_EXIT:
        simcall(SIMCALL_EXIT, (long)(uintptr_t)arg == ADP_STOPPED_APPLICATION_EXIT ? 0 : 1, 0, 0);
        return -1;
    default:
        return -1;
    }
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
