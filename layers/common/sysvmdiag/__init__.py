"""sysvmdiag: run ping, traceroute and arping on cloud system VMs, under an access policy."""
