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

output "github_role_arns" {
  description = "AWS_DEPLOY_ROLE_ARN (deploy) and AWS_PLAN_ROLE_ARN (plan) of the GitHub environments dev and dev-plan."
  value       = module.github_oidc.role_arns
}
