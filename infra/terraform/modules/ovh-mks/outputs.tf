output "endpoint" {
  description = "Kubernetes API URL."
  value       = "https://${ovh_cloud_project_kube.this.url}"
}

output "kubeconfig" {
  description = "Cluster-admin kubeconfig issued by OVHcloud."
  value       = ovh_cloud_project_kube.this.kubeconfig
  sensitive   = true
}

output "kubeconfig_attributes" {
  description = "Host, CA and client credentials of the kubeconfig, for the helm provider."
  value       = ovh_cloud_project_kube.this.kubeconfig_attributes[0]
  sensitive   = true
}

output "private_network_id" {
  description = "OpenStack ID of the nodes' private network."
  value       = tolist(ovh_cloud_project_network_private.this.regions_attributes[*].openstackid)[0]
}
