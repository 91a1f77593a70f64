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

module "eks" {
  source = "../../modules/eks"

  name                = local.name
  kubernetes_version  = "1.31"
  availability_zones  = var.availability_zones
  single_nat_gateway  = true
  public_access_cidrs = var.admin_cidrs
  log_retention_days  = 30
  tags                = local.tags

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

  cluster_name = local.name
}
