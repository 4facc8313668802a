module github.com/netdojo/netdojo

go 1.26.0

require (
	github.com/gopacket/gopacket v1.7.7
	github.com/vishvananda/netlink v1.3.1
	github.com/vishvananda/netns v0.0.5
	golang.org/x/net v0.57.0
	golang.org/x/sys v0.50.0
)

require github.com/miekg/dns v1.1.73 // indirect
