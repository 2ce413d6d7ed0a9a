"""The Audit screen: what the panel and its commands did to the cluster."""
