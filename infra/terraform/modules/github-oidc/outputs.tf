output "role_arns" {
  description = "ARN of the deploy and plan roles: the AWS_DEPLOY_ROLE_ARN / AWS_PLAN_ROLE_ARN variables of the GitHub environments."
  value       = { for k, r in aws_iam_role.this : k => r.arn }
}

output "provider_arn" {
  description = "The GitHub OIDC identity provider of the account."
  value       = aws_iam_openid_connect_provider.github.arn
}
