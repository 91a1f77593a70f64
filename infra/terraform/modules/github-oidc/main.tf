# The pipeline's way into AWS: GitHub's OIDC issuer as an identity provider of
# the account, and one role per use that only a workflow job running in the
# named GitHub environment of this repository can assume. No access key exists.

data "aws_partition" "current" {}

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
  for_each = var.roles

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
  for_each = var.roles

  name                 = "${var.name_prefix}-${each.key}"
  description          = "GitHub Actions, ${var.repository}, environment ${each.value.environment}"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "this" {
  for_each = { for pair in flatten([
    for role, spec in var.roles : [for arn in spec.managed_policy_arns : { key = "${role}/${arn}", role = role, arn = arn }]
  ]) : pair.key => pair }

  role       = aws_iam_role.this[each.value.role].name
  policy_arn = each.value.arn
}

resource "aws_iam_role_policy" "this" {
  for_each = { for role, spec in var.roles : role => spec if spec.inline_policy != null }

  name   = "pipeline"
  role   = aws_iam_role.this[each.key].id
  policy = each.value.inline_policy
}
