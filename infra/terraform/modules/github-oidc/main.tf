# The pipeline's way into AWS: GitHub's OIDC issuer as an identity provider of
# the account, and one role per use that only a workflow job running in the
# named GitHub environment of this repository can assume. No access key exists.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  account = data.aws_caller_identity.current.account_id
  arn     = "arn:${data.aws_partition.current.partition}"
  # deploy: find the clusters (aws eks update-kubeconfig); what it may do inside
  # them is the EKS access entry's business. plan: read everything, and this
  # environment's state object and its lock file.
  roles = {
    deploy = {
      environment         = var.deploy_environment
      managed_policy_arns = []
      inline_policy = jsonencode({
        Version = "2012-10-17"
        Statement = [{
          Effect   = "Allow"
          Action   = ["eks:DescribeCluster"]
          Resource = [for c in var.eks_cluster_names : "${local.arn}:eks:${data.aws_region.current.name}:${local.account}:cluster/${c}"]
        }]
      })
    }
    plan = {
      environment         = var.plan_environment
      managed_policy_arns = ["${local.arn}:iam::aws:policy/ReadOnlyAccess"]
      inline_policy = jsonencode({
        Version = "2012-10-17"
        Statement = [
          {
            Effect   = "Allow"
            Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
            Resource = ["${local.arn}:s3:::${var.state_bucket}/${var.state_key}", "${local.arn}:s3:::${var.state_bucket}/${var.state_key}.tflock"]
          },
          {
            Effect   = "Allow"
            Action   = ["s3:ListBucket"]
            Resource = "${local.arn}:s3:::${var.state_bucket}"
          },
        ]
      })
    }
  }
}

data "tls_certificate" "github" {
  url = "https://token.actions.githubusercontent.com/.well-known/openid-configuration"
}

resource "aws_iam_openid_connect_provider" "github" {
  url             = "https://token.actions.githubusercontent.com"
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = [data.tls_certificate.github.certificates[length(data.tls_certificate.github.certificates) - 1].sha1_fingerprint]
  tags            = var.tags
}

data "aws_iam_policy_document" "trust" {
  for_each = local.roles

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    # The job's environment, not a branch: only jobs that passed that
    # environment's protection rules (reviewers for production) get the role.
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.repository}:environment:${each.value.environment}"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.roles

  name                 = "${var.name_prefix}-${each.key}"
  description          = "GitHub Actions, ${var.repository}, environment ${each.value.environment}"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "this" {
  for_each = { for pair in flatten([
    for role, spec in local.roles : [for arn in spec.managed_policy_arns : { key = "${role}/${arn}", role = role, arn = arn }]
  ]) : pair.key => pair }

  role       = aws_iam_role.this[each.value.role].name
  policy_arn = each.value.arn
}

resource "aws_iam_role_policy" "this" {
  for_each = local.roles

  name   = "pipeline"
  role   = aws_iam_role.this[each.key].id
  policy = each.value.inline_policy
}
