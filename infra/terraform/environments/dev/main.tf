# dev: one small EKS cluster with the platform add-ons. Cheap (one NAT gateway,
# spot nodes) and disposable; the pipeline deploys every main commit here.

locals {
  name = "tasklane-dev"
  tags = { project = "tasklane", environment = "dev", managed-by = "terraform" }
}

provider "aws" {
  region = var.aws_region
  default_tags {
    tags = local.tags
  }
}

# The pipeline's roles: deploy (GitHub environment dev) and plan (dev-plan).
module "github_oidc" {
  source = "../../modules/github-oidc"

  repository         = var.github_repository
  name_prefix        = "tasklane-dev-github"
  deploy_environment = "dev"
  plan_environment   = "dev-plan"
  eks_cluster_names  = [local.name]
  state_bucket       = "tasklane-terraform-state"
  state_key          = "dev/terraform.tfstate"
  tags               = local.tags
}

module "eks" {
  source = "../../modules/eks"

  name                = local.name
  kubernetes_version  = "1.31"
  availability_zones  = var.availability_zones
  single_nat_gateway  = true
  public_access_cidrs = var.admin_cidrs
  log_retention_days  = 30
  tags                = local.tags

  # The deploy role may change the tasklane namespace only; the plan role reads
  # the cluster (helm releases included) for terraform plan.
  access_entries = {
    deploy = { principal_arn = module.github_oidc.role_arns["deploy"], policy = "AmazonEKSAdminPolicy", namespaces = ["tasklane"] }
    plan   = { principal_arn = module.github_oidc.role_arns["plan"], policy = "AmazonEKSAdminViewPolicy" }
  }

  node_groups = {
    general = {
      instance_types = ["t3.large", "t3a.large"]
      capacity_type  = "SPOT"
      min_size       = 2
      max_size       = 4
      desired_size   = 2
    }
  }
}

provider "helm" {
  kubernetes = {
    host                   = module.eks.endpoint
    cluster_ca_certificate = base64decode(module.eks.certificate_authority_data)
    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.aws_region]
    }
  }
}

module "addons" {
  source = "../../modules/platform-addons"

  cluster_name              = local.name
  cluster_autoscaler_values = [yamlencode(local.aws_cluster_autoscaler)]
  extra_release_secrets     = {}
}

locals {
  aws_cluster_autoscaler = {
    cloudProvider = "aws"
    awsRegion     = var.aws_region
    autoDiscovery = { clusterName = module.eks.cluster_name }
    rbac = { serviceAccount = {
      name        = "cluster-autoscaler"
      annotations = { "eks.amazonaws.com/role-arn" = module.eks.cluster_autoscaler_role_arn }
    } }
  }
}
