output "eks_endpoint" {
  description = "Kubernetes API of the dev cluster."
  value       = module.eks.endpoint
}

output "eks_kubeconfig" {
  description = "Kubeconfig of the dev cluster (authenticates through aws eks get-token)."
  value       = module.eks.kubeconfig
  sensitive   = true
}

output "eks_nat_public_ips" {
  description = "Egress addresses of the dev cluster."
  value       = module.eks.nat_public_ips
}
