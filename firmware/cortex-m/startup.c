/* Cortex-M startup for the QEMU test firmware (mps2-an386 Cortex-M4, microbit Cortex-M0).
 *
 * QEMU's M-profile reset loads SP and PC from the vector table at address 0, so this file is the entry:
 * no newlib crt0. Reset_Handler enables the FPU (hard-float builds), copies .data, zeroes .bss and runs
 * main(); every fault vector reports through runner.c's firmware_fault(), which prints FAULT and makes
 * QEMU exit non-zero instead of hanging.
 *
 * Platform interface used by runner.c:
 *   long semihost_call(long op, const void *arg)   ARM semihosting trap (bkpt 0xAB), op in r0, arg in r1
 */
#include <stdint.h>

extern uint32_t __stack_limit[];
extern uint32_t __stack_top[];
extern uint32_t __data_load[];
extern uint32_t __data_start[];
extern uint32_t __data_end[];
extern uint32_t __bss_start[];
extern uint32_t __bss_end[];

int main(void);
void firmware_exit(int status) __attribute__((noreturn));
void firmware_fault(uint32_t cause, uint32_t pc, uint32_t sp) __attribute__((noreturn));
long semihost_call(long op, const void *arg);
void Reset_Handler(void) __attribute__((noreturn));
void Fault_Handler(void) __attribute__((naked, noreturn));
void fault_report(const uint32_t *frame) __attribute__((noreturn, used));

/* r0 = operation, r1 = argument block; the result comes back in r0. */
__attribute__((naked)) long semihost_call(long op, const void *arg)
{
    (void)op;
    (void)arg;
    __asm__ volatile("bkpt 0xab\n\tbx lr");
}

/* The exception number (IPSR), the stacked PC of the faulting code (from the exception frame, when the
 * frame is inside the stack region; 0xffffffff otherwise) and the SP at the fault. */
void fault_report(const uint32_t *frame)
{
    uint32_t ipsr;
    uint32_t pc = 0xFFFFFFFFu;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    if (frame >= __stack_limit && frame + 8 <= __stack_top) {
        pc = frame[6];
    }
    firmware_fault(ipsr, pc, (uint32_t)(uintptr_t)frame);
}

/* A fault may come from a stack overflow: report from a fresh stack, or the report itself would fault
 * (and QEMU stop on a lockup). */
void Fault_Handler(void)
{
    __asm__ volatile("mrs r0, msp\n\t"
                     "ldr r1, =__stack_top\n\t"
                     "mov sp, r1\n\t"
                     "ldr r1, =fault_report\n\t"
                     "bx r1\n\t"
                     ".ltorg");
}

/* Kept out of line so that no floating-point instruction can run before the FPU is enabled. */
__attribute__((noinline, noreturn)) static void start_c(void)
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

void Reset_Handler(void)
{
#if defined(__ARM_FP)
    /* CPACR: full access to CP10 and CP11 (the FPU); the FPU is off at reset. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    start_c();
}

/* Initial SP, then the 15 system exception vectors. No interrupt is ever enabled. */
__attribute__((section(".vectors"), used)) static void (*const vector_table[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top,
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    Fault_Handler, /* SVCall */
    Fault_Handler, /* DebugMonitor */
    0,
    Fault_Handler, /* PendSV */
    Fault_Handler, /* SysTick */
};
