package sandbox

// WithoutCgroups makes this process behave as on a machine without
// cgroup2 until restore is called. Tests using it must not run in parallel.
func WithoutCgroups() (restore func()) {
	CgroupRoot()
	saved := cgroupRoot
	cgroupRoot = ""
	return func() { cgroupRoot = saved }
}
