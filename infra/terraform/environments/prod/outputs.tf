output "endpoints" {
  description = "Kubernetes API of each production cluster."
  value = {
    aws     = module.eks.endpoint
    hetzner = module.hcloud.api_endpoint
    ovh     = module.ovh.endpoint
  }
}

output "kubeconfigs" {
  description = "Kubeconfig of each production cluster."
  sensitive   = true
  value = {
    aws     = module.eks.kubeconfig
    hetzner = module.hcloud.kubeconfig
    ovh     = module.ovh.kubeconfig
  }
}

output "ingress_addresses" {
  description = "Addresses the DNS failover records point at, per cloud (AWS and OVH: read the ingress Service's load balancer)."
  value = {
    hetzner = module.hcloud.ingress_ipv4_addresses
  }
}

output "github_role_arns" {
  description = "AWS_DEPLOY_ROLE_ARN (deploy) and AWS_PLAN_ROLE_ARN (plan) of the GitHub environment production."
  value       = module.github_oidc.role_arns
}
