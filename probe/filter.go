package probe

import (
	"fmt"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"golang.org/x/net/bpf"
)

// DefaultSnaplen is tcpdump's default snapshot length; compiled filters
// accept with "ret #262144" like tcpdump's do.
const DefaultSnaplen = 262144

// BPFProgram is a capture filter compiled by libpcap, the same compiler
// tcpdump uses, so that it is exactly the program tcpdump would attach.
type BPFProgram struct {
	Expr     string               `json:"expr"`
	LinkType layers.LinkType      `json:"link_type"`
	Snaplen  int                  `json:"snaplen"`
	Insns    []bpf.RawInstruction `json:"insns"`
}

// CompileFilter compiles a filter in tcpdump syntax for a link type
// (layers.LinkTypeEthernet for Ethernet, veth and loopback) and snapshot
// length (0 means DefaultSnaplen), with libpcap's optimiser as tcpdump
// runs it. An empty expression accepts every packet.
func CompileFilter(expr string, linkType layers.LinkType, snaplen int) (*BPFProgram, error) {
	if snaplen <= 0 {
		snaplen = DefaultSnaplen
	}
	insns, err := pcap.CompileBPFFilter(linkType, snaplen, expr)
	if err != nil {
		return nil, fmt.Errorf("compiling filter %q: %w", expr, err)
	}
	p := &BPFProgram{Expr: expr, LinkType: linkType, Snaplen: snaplen, Insns: make([]bpf.RawInstruction, len(insns))}
	for i, in := range insns {
		p.Insns[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	return p, nil
}

// Disassemble prints the program exactly as `tcpdump -d` does, one
// instruction per line.
func (p *BPFProgram) Disassemble() string {
	var b strings.Builder
	for i, in := range p.Insns {
		b.WriteString(scBPFImage(in, i))
		b.WriteByte('\n')
	}
	return b.String()
}

// Classic BPF opcode fields (linux/bpf_common.h).
const (
	scBPFLd   = 0x00
	scBPFLdx  = 0x01
	scBPFSt   = 0x02
	scBPFStx  = 0x03
	scBPFAlu  = 0x04
	scBPFJmp  = 0x05
	scBPFRet  = 0x06
	scBPFMisc = 0x07

	scBPFW   = 0x00
	scBPFH   = 0x08
	scBPFB   = 0x10
	scBPFImm = 0x00
	scBPFAbs = 0x20
	scBPFInd = 0x40
	scBPFMem = 0x60
	scBPFLen = 0x80
	scBPFMsh = 0xa0

	scBPFK = 0x00
	scBPFX = 0x08
	scBPFA = 0x10

	scBPFJa   = 0x00
	scBPFJeq  = 0x10
	scBPFJgt  = 0x20
	scBPFJge  = 0x30
	scBPFJset = 0x40

	scBPFTax = 0x00
	scBPFTxa = 0x80

	scSKFAdOff = -0x1000
)

// scSKFNames are the Linux ancillary load offsets libpcap prints by name.
var scSKFNames = map[int32]string{
	0: "proto", 4: "type", 8: "ifidx", 12: "nla", 16: "nlan", 20: "mark",
	24: "queue", 28: "hatype", 32: "rxhash", 36: "cpu", 40: "xor_x",
	44: "vlan_tci", 48: "vlanp", 52: "poff", 56: "random", 60: "vlan_tpid",
}

func scAbsOperand(k uint32) string {
	off := int32(k)
	if off >= scSKFAdOff && off < scSKFAdOff+64 {
		if name, ok := scSKFNames[off-scSKFAdOff]; ok {
			return "[" + name + "]"
		}
	}
	return fmt.Sprintf("[%d]", off)
}

var scALUNames = map[uint16]string{
	0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and",
	0x60: "lsh", 0x70: "rsh", 0x80: "neg", 0x90: "mod", 0xa0: "xor",
}

// scBPFImage is libpcap's bpf_image.
func scBPFImage(in bpf.RawInstruction, n int) string {
	op, operand := "unimp", fmt.Sprintf("0x%x", in.Op)
	k := in.K
	switch c := in.Op; c {
	case scBPFRet | scBPFK:
		op, operand = "ret", fmt.Sprintf("#%d", int32(k))
	case scBPFRet | scBPFA:
		op, operand = "ret", ""
	case scBPFLd | scBPFW | scBPFAbs:
		op, operand = "ld", scAbsOperand(k)
	case scBPFLd | scBPFH | scBPFAbs:
		op, operand = "ldh", scAbsOperand(k)
	case scBPFLd | scBPFB | scBPFAbs:
		op, operand = "ldb", scAbsOperand(k)
	case scBPFLd | scBPFW | scBPFLen:
		op, operand = "ld", "#pktlen"
	case scBPFLd | scBPFW | scBPFInd:
		op, operand = "ld", fmt.Sprintf("[x + %d]", int32(k))
	case scBPFLd | scBPFH | scBPFInd:
		op, operand = "ldh", fmt.Sprintf("[x + %d]", int32(k))
	case scBPFLd | scBPFB | scBPFInd:
		op, operand = "ldb", fmt.Sprintf("[x + %d]", int32(k))
	case scBPFLd | scBPFImm:
		op, operand = "ld", fmt.Sprintf("#0x%x", k)
	case scBPFLdx | scBPFImm:
		op, operand = "ldx", fmt.Sprintf("#0x%x", k)
	case scBPFLdx | scBPFMsh | scBPFB:
		op, operand = "ldxb", fmt.Sprintf("4*([%d]&0xf)", int32(k))
	case scBPFLd | scBPFMem:
		op, operand = "ld", fmt.Sprintf("M[%d]", int32(k))
	case scBPFLdx | scBPFMem:
		op, operand = "ldx", fmt.Sprintf("M[%d]", int32(k))
	case scBPFSt:
		op, operand = "st", fmt.Sprintf("M[%d]", int32(k))
	case scBPFStx:
		op, operand = "stx", fmt.Sprintf("M[%d]", int32(k))
	case scBPFJmp | scBPFJa:
		op, operand = "ja", fmt.Sprintf("%d", n+1+int(int32(k)))
	case scBPFJmp | scBPFJgt | scBPFK:
		op, operand = "jgt", fmt.Sprintf("#0x%x", k)
	case scBPFJmp | scBPFJge | scBPFK:
		op, operand = "jge", fmt.Sprintf("#0x%x", k)
	case scBPFJmp | scBPFJeq | scBPFK:
		op, operand = "jeq", fmt.Sprintf("#0x%x", k)
	case scBPFJmp | scBPFJset | scBPFK:
		op, operand = "jset", fmt.Sprintf("#0x%x", k)
	case scBPFJmp | scBPFJgt | scBPFX:
		op, operand = "jgt", "x"
	case scBPFJmp | scBPFJge | scBPFX:
		op, operand = "jge", "x"
	case scBPFJmp | scBPFJeq | scBPFX:
		op, operand = "jeq", "x"
	case scBPFJmp | scBPFJset | scBPFX:
		op, operand = "jset", "x"
	case scBPFMisc | scBPFTax:
		op, operand = "tax", ""
	case scBPFMisc | scBPFTxa:
		op, operand = "txa", ""
	default:
		if c&0x07 == scBPFAlu {
			name, ok := scALUNames[c&0xf0]
			switch {
			case !ok:
			case c&0xf0 == 0x80 && c&0x08 == 0:
				op, operand = "neg", ""
			case c&0xf0 == 0x80:
			case c&scBPFX != 0:
				op, operand = name, "x"
			case name == "and" || name == "or" || name == "xor":
				op, operand = name, fmt.Sprintf("#0x%x", k)
			default:
				op, operand = name, fmt.Sprintf("#%d", int32(k))
			}
		}
	}
	if in.Op&0x07 == scBPFJmp && in.Op&0xf0 != scBPFJa {
		return fmt.Sprintf("(%03d) %-8s %-16s jt %d\tjf %d", n, op, operand, n+1+int(in.Jt), n+1+int(in.Jf))
	}
	return fmt.Sprintf("(%03d) %-8s %s", n, op, operand)
}

// FilterMatches compiles expr as tcpdump would for the link type and runs
// it on each packet (raw frames starting at the link header), reporting
// which ones the filter accepts.
func FilterMatches(expr string, linkType layers.LinkType, packets [][]byte) ([]bool, error) {
	p, err := CompileFilter(expr, linkType, DefaultSnaplen)
	if err != nil {
		return nil, err
	}
	vm, err := p.VM()
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(packets))
	for i, pkt := range packets {
		n, err := vm.Run(pkt)
		if err != nil {
			return nil, fmt.Errorf("running filter %q on packet %d: %w", expr, i, err)
		}
		out[i] = n > 0
	}
	return out, nil
}

// VM returns a classic BPF interpreter for the program, for matching
// packets in user space.
func (p *BPFProgram) VM() (*bpf.VM, error) {
	insns := make([]bpf.Instruction, len(p.Insns))
	for i, r := range p.Insns {
		insns[i] = r.Disassemble()
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		return nil, fmt.Errorf("loading filter %q: %w", p.Expr, err)
	}
	return vm, nil
}
