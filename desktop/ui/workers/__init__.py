"""The Workers screen: the cluster's workers and the profile's local workers."""
