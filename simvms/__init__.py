"""simvms: a lab of simulated CloudStack system VMs in Linux network namespaces."""
