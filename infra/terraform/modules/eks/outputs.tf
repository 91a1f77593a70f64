output "cluster_name" {
  description = "EKS cluster name."
  value       = aws_eks_cluster.this.name
}

output "endpoint" {
  description = "Kubernetes API endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "certificate_authority_data" {
  description = "Base64 PEM of the cluster CA."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "oidc_provider_arn" {
  description = "IAM OIDC provider of the cluster, for IRSA role trust policies."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "kms_key_arn" {
  description = "KMS key encrypting Kubernetes Secrets and the cluster's logs."
  value       = aws_kms_key.this.arn
}

output "vpc_id" {
  description = "VPC of the cluster."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Subnets of the nodes."
  value       = aws_subnet.private[*].id
}

output "nat_public_ips" {
  description = "Egress addresses of the cluster, for allow-lists elsewhere (other clouds' NATS leaf ports)."
  value       = aws_eip.nat[*].public_ip
}

output "kubeconfig" {
  description = "Kubeconfig that authenticates with `aws eks get-token` (no static credential inside)."
  sensitive   = true
  value = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = var.name
    clusters = [{
      name    = var.name
      cluster = { server = aws_eks_cluster.this.endpoint, certificate-authority-data = aws_eks_cluster.this.certificate_authority[0].data }
    }]
    contexts = [{ name = var.name, context = { cluster = var.name, user = var.name } }]
    users = [{
      name = var.name
      user = { exec = {
        apiVersion = "client.authentication.k8s.io/v1beta1"
        command    = "aws"
        args       = ["eks", "get-token", "--cluster-name", var.name]
      } }
    }]
  })
}

output "cluster_autoscaler_role_arn" {
  description = "IAM role for the cluster autoscaler's service account kube-system/cluster-autoscaler (IRSA)."
  value       = aws_iam_role.cluster_autoscaler.arn
}

output "cluster_arn" {
  description = "ARN of the cluster, for IAM policies that may describe it."
  value       = aws_eks_cluster.this.arn
}
