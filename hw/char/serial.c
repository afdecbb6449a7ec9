/*
 * 16550A UART.
 *
 * Output is synchronous: a byte written to THR goes to the chardev at
 * once, so the transmitter is always empty (LSR.THRE and LSR.TEMT stay
 * set) and the "THR empty" interrupt re-arms after every byte.  Input is
 * queued in a 16-byte receive FIFO fed by the chardev's read handler.
 *
 * Every field of SerialState is protected by the BQL: register accesses
 * come from vCPU threads (KVM_EXIT_IO) and the chardev handlers from the
 * main loop, both under the BQL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "hw/ioport.h"
#include "hw/char/serial.h"
#include "migration/register.h"
#include "migration/vmstate.h"
#include "system/accel-ops.h"
#include "trace.h"

/* Register offsets from the I/O base. */
#define UART_RBR 0      /* read; THR on write; DLL with LCR.DLAB */
#define UART_IER 1      /* DLM with LCR.DLAB */
#define UART_IIR 2      /* read; FCR on write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_RDI   0x01     /* received data available */
#define UART_IER_THRI  0x02     /* transmitter holding register empty */
#define UART_IER_RLSI  0x04     /* receiver line status */
#define UART_IER_MSI   0x08     /* modem status */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI    0x00
#define UART_IIR_THRI   0x02
#define UART_IIR_RDI    0x04
#define UART_IIR_RLSI   0x06
#define UART_IIR_ID     0x0e
#define UART_IIR_FIFO   0xc0    /* FIFOs enabled */

#define UART_FCR_ENABLE   0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR   0x01      /* data ready */
#define UART_LSR_OE   0x02      /* overrun */
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_MSR_DELTAS 0x0f
#define UART_MSR_CTS  0x10
#define UART_MSR_DSR  0x20
#define UART_MSR_RI   0x40
#define UART_MSR_DCD  0x80

#define UART_FIFO_SIZE 16

struct SerialState {
    const char *name;
    uint16_t iobase;
    int irq;
    Chardev *chr;
    uint8_t rx[UART_FIFO_SIZE];
    unsigned rx_head;           /* index of the oldest byte */
    unsigned rx_count;
    uint8_t ier, lcr, mcr, lsr, msr, scr, fcr, iir;
    uint16_t divider;
    bool thr_ipending;          /* "THR empty" interrupt not yet seen */
    bool irq_level;
};

static const uint16_t serial_iobases[] = { 0x3f8, 0x2f8, 0x3e8, 0x2e8 };
static const int serial_irqs[] = { 4, 3, 4, 3 };

uint16_t serial_isa_iobase(int index)
{
    assert(index >= 0 && index < (int)ARRAY_SIZE(serial_iobases));
    return serial_iobases[index];
}

int serial_isa_irq(int index)
{
    assert(index >= 0 && index < (int)ARRAY_SIZE(serial_irqs));
    return serial_irqs[index];
}

/* Recompute IIR from the highest-priority pending cause; drive the line. */
static void serial_update_irq(SerialState *s)
{
    uint8_t id = UART_IIR_NO_INT;

    if ((s->ier & UART_IER_RLSI) && (s->lsr & UART_LSR_OE)) {
        id = UART_IIR_RLSI;
    } else if ((s->ier & UART_IER_RDI) && (s->lsr & UART_LSR_DR)) {
        id = UART_IIR_RDI;
    } else if ((s->ier & UART_IER_THRI) && s->thr_ipending) {
        id = UART_IIR_THRI;
    } else if ((s->ier & UART_IER_MSI) && (s->msr & UART_MSR_DELTAS)) {
        id = UART_IIR_MSI;
    }
    s->iir = id | ((s->fcr & UART_FCR_ENABLE) ? UART_IIR_FIFO : 0);
    if (s->irq_level != (id != UART_IIR_NO_INT)) {
        s->irq_level = !s->irq_level;
        trace_serial_irq(s->name, s->irq, s->irq_level);
        if (current_accel) {
            current_accel->set_irq(s->irq, s->irq_level);
        }
    }
}

static unsigned serial_rx_capacity(SerialState *s)
{
    return (s->fcr & UART_FCR_ENABLE) ? UART_FIFO_SIZE : 1;
}

static void serial_rx_push(SerialState *s, uint8_t byte)
{
    if (s->rx_count >= serial_rx_capacity(s)) {
        s->lsr |= UART_LSR_OE;
        return;
    }
    s->rx[(s->rx_head + s->rx_count) % UART_FIFO_SIZE] = byte;
    s->rx_count++;
    s->lsr |= UART_LSR_DR;
}

static uint8_t serial_rx_pop(SerialState *s)
{
    uint8_t byte = 0;

    if (s->rx_count) {
        byte = s->rx[s->rx_head];
        s->rx_head = (s->rx_head + 1) % UART_FIFO_SIZE;
        s->rx_count--;
    }
    if (!s->rx_count) {
        s->lsr &= ~UART_LSR_DR;
    }
    return byte;
}

static void serial_rx_clear(SerialState *s)
{
    s->rx_head = 0;
    s->rx_count = 0;
    s->lsr &= ~UART_LSR_DR;
}

/* MSR inputs: in loopback they mirror MCR outputs; otherwise a live line. */
static uint8_t serial_msr_inputs(SerialState *s)
{
    uint8_t m = s->mcr;

    if (!(m & UART_MCR_LOOP)) {
        return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
    }
    return ((m & UART_MCR_RTS) ? UART_MSR_CTS : 0) |
           ((m & UART_MCR_DTR) ? UART_MSR_DSR : 0) |
           ((m & UART_MCR_OUT1) ? UART_MSR_RI : 0) |
           ((m & UART_MCR_OUT2) ? UART_MSR_DCD : 0);
}

static void serial_transmit(SerialState *s, uint8_t byte)
{
    trace_serial_tx(s->name, byte);
    if (s->mcr & UART_MCR_LOOP) {
        serial_rx_push(s, byte);
    } else if (s->chr && qemu_chr_write_all(s->chr, &byte, 1) < 0) {
        /* The back end failed: a real line would drop the byte too. */
        trace_serial_tx_error(s->name);
    }
    s->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
    s->thr_ipending = true;
}

static void serial_set_mcr(SerialState *s, uint8_t val)
{
    uint8_t old = serial_msr_inputs(s);
    uint8_t changed;

    s->mcr = val & 0x1f;
    changed = old ^ serial_msr_inputs(s);
    s->msr = (s->msr & UART_MSR_DELTAS) | serial_msr_inputs(s);
    /* Delta bits: CTS, DSR, trailing edge of RI, DCD. */
    s->msr |= ((changed & UART_MSR_CTS) ? 0x01 : 0) |
              ((changed & UART_MSR_DSR) ? 0x02 : 0) |
              ((changed & old & UART_MSR_RI) ? 0x04 : 0) |
              ((changed & UART_MSR_DCD) ? 0x08 : 0);
}

static void serial_write(void *opaque, uint16_t offset, uint32_t val,
                         unsigned size)
{
    SerialState *s = opaque;
    bool dlab = s->lcr & UART_LCR_DLAB;

    trace_serial_write(s->name, offset, val);
    switch (offset) {
    case UART_RBR:
        if (dlab) {
            s->divider = (s->divider & 0xff00) | (val & 0xff);
        } else {
            serial_transmit(s, val);
        }
        break;
    case UART_IER:
        if (dlab) {
            s->divider = (s->divider & 0x00ff) | ((val & 0xff) << 8);
            break;
        }
        /* Enabling the THRE interrupt with THR empty raises it at once. */
        if ((val & UART_IER_THRI) && !(s->ier & UART_IER_THRI) &&
            (s->lsr & UART_LSR_THRE)) {
            s->thr_ipending = true;
        }
        s->ier = val & 0x0f;
        break;
    case UART_IIR:
        if ((val ^ s->fcr) & UART_FCR_ENABLE || (val & UART_FCR_CLEAR_RX)) {
            serial_rx_clear(s);
        }
        s->fcr = val & 0xc9;
        break;
    case UART_LCR:
        s->lcr = val;
        break;
    case UART_MCR:
        serial_set_mcr(s, val);
        break;
    case UART_SCR:
        s->scr = val;
        break;
    default:
        break;      /* LSR and MSR are read-only */
    }
    serial_update_irq(s);
}

static uint32_t serial_read(void *opaque, uint16_t offset, unsigned size)
{
    SerialState *s = opaque;
    bool dlab = s->lcr & UART_LCR_DLAB;
    uint32_t val = 0;

    switch (offset) {
    case UART_RBR:
        val = dlab ? (s->divider & 0xff) : serial_rx_pop(s);
        break;
    case UART_IER:
        val = dlab ? (s->divider >> 8) : s->ier;
        break;
    case UART_IIR:
        val = s->iir;
        /* Reading IIR acknowledges a THRE interrupt it reports. */
        if ((val & UART_IIR_ID) == UART_IIR_THRI) {
            s->thr_ipending = false;
        }
        break;
    case UART_LCR:
        val = s->lcr;
        break;
    case UART_MCR:
        val = s->mcr;
        break;
    case UART_LSR:
        val = s->lsr;
        s->lsr &= ~UART_LSR_OE;
        break;
    case UART_MSR:
        val = s->msr;
        s->msr &= ~UART_MSR_DELTAS;
        break;
    case UART_SCR:
        val = s->scr;
        break;
    }
    serial_update_irq(s);
    trace_serial_read(s->name, offset, val);
    return val;
}

static const PortIOOps serial_portio_ops = {
    .read = serial_read,
    .write = serial_write,
};

/* Chardev front end: main thread, BQL held. */
static int serial_can_receive(void *opaque)
{
    SerialState *s = opaque;

    if (s->mcr & UART_MCR_LOOP) {
        return 0;
    }
    return serial_rx_capacity(s) - MIN(s->rx_count, serial_rx_capacity(s));
}

static void serial_receive(void *opaque, const uint8_t *buf, int size)
{
    SerialState *s = opaque;

    trace_serial_rx(s->name, size);
    for (int i = 0; i < size; i++) {
        serial_rx_push(s, buf[i]);
    }
    serial_update_irq(s);
}

static void serial_event(void *opaque, ChrEvent event)
{
}

static const ChrFrontendOps serial_chr_ops = {
    .can_read = serial_can_receive,
    .read = serial_receive,
    .event = serial_event,
};

/*
 * Migration (BQL held, guest stopped).  The interrupt line is not driven
 * on load: its level travels in the in-kernel PIC/IOAPIC state, and the
 * loaded irq_level says what the source last drove.
 */
static bool serial_post_load(void *opaque, int version_id, Error **errp)
{
    SerialState *s = opaque;

    if (s->rx_head >= UART_FIFO_SIZE || s->rx_count > UART_FIFO_SIZE) {
        error_setg(errp, "%s: receive FIFO head %u / count %u out of range "
                   "(FIFO of %d bytes)", s->name, s->rx_head, s->rx_count,
                   UART_FIFO_SIZE);
        return false;
    }
    if (s->irq_level != ((s->iir & UART_IIR_NO_INT) == 0)) {
        error_setg(errp, "%s: IIR 0x%02x disagrees with the interrupt line "
                   "level %d", s->name, s->iir, s->irq_level);
        return false;
    }
    return true;
}

static const VMStateDescription vmstate_serial = {
    .name = "serial",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = serial_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT16(divider, SerialState),
        VMSTATE_UINT8(ier, SerialState),
        VMSTATE_UINT8(iir, SerialState),
        VMSTATE_UINT8(lcr, SerialState),
        VMSTATE_UINT8(mcr, SerialState),
        VMSTATE_UINT8(lsr, SerialState),
        VMSTATE_UINT8(msr, SerialState),
        VMSTATE_UINT8(scr, SerialState),
        VMSTATE_UINT8(fcr, SerialState),
        VMSTATE_BOOL(thr_ipending, SerialState),
        VMSTATE_BOOL(irq_level, SerialState),
        VMSTATE_UINT32(rx_head, SerialState),
        VMSTATE_UINT32(rx_count, SerialState),
        VMSTATE_UINT8_ARRAY(rx, SerialState, UART_FIFO_SIZE),
        VMSTATE_END_OF_LIST()
    },
};

/* The COM port number of @iobase: the section's instance id. */
static int serial_isa_index(uint16_t iobase)
{
    for (size_t i = 0; i < ARRAY_SIZE(serial_iobases); i++) {
        if (serial_iobases[i] == iobase) {
            return i;
        }
    }
    return iobase;  /* not a COM port: still unique */
}

SerialState *serial_isa_init(const char *name, uint16_t iobase, int irq,
                             Chardev *chr)
{
    SerialState *s = g_new0(SerialState, 1);

    s->name = name;
    s->iobase = iobase;
    s->irq = irq;
    s->chr = chr;
    s->lsr = UART_LSR_THRE | UART_LSR_TEMT;
    s->msr = serial_msr_inputs(s);
    s->iir = UART_IIR_NO_INT;
    s->divider = 12;            /* 9600 baud from the 1.8432 MHz clock */
    s->lcr = 0x03;              /* 8N1 */
    portio_register(name, iobase, 8, &serial_portio_ops, s);
    if (chr) {
        qemu_chr_fe_set_handlers(chr, &serial_chr_ops, s);
    }
    vmstate_register(serial_isa_index(iobase), &vmstate_serial, s);
    return s;
}
