# prod: one cluster per cloud, each with the same platform add-ons. EKS is the
# primary; Hetzner and OVH run full tasklane stacks that take traffic through
# DNS failover (docs/multi-cloud.md). Provider credentials for Hetzner and OVH
# come from the environment (HCLOUD_TOKEN, OVH_*), never from variables.

locals {
  tags   = { project = "tasklane", environment = "prod", managed-by = "terraform" }
  labels = { project = "tasklane", environment = "prod", managed-by = "terraform" }
}

provider "aws" {
  region = var.aws_region
  default_tags {
    tags = local.tags
  }
}

provider "hcloud" {}

provider "ovh" {}

# The pipeline's roles. Both belong to the GitHub environment `production`, whose
# reviewers approve every run that gets them: the deploy, and the plan (it reads
# production state).
module "github_oidc" {
  source = "../../modules/github-oidc"

  repository         = var.github_repository
  name_prefix        = "tasklane-prod-github"
  deploy_environment = "production"
  plan_environment   = "production"
  eks_cluster_names  = ["tasklane-prod-aws"]
  state_bucket       = "tasklane-terraform-state"
  state_key          = "prod/terraform.tfstate"
  tags               = local.tags
}

module "eks" {
  source = "../../modules/eks"

  name                = "tasklane-prod-aws"
  kubernetes_version  = "1.31"
  availability_zones  = var.availability_zones
  single_nat_gateway  = false
  public_access_cidrs = var.admin_cidrs
  log_retention_days  = 365
  tags                = local.tags

  access_entries = {
    deploy = { principal_arn = module.github_oidc.role_arns["deploy"], policy = "AmazonEKSAdminPolicy", namespaces = ["tasklane"] }
    plan   = { principal_arn = module.github_oidc.role_arns["plan"], policy = "AmazonEKSAdminViewPolicy" }
  }

  node_groups = {
    general = {
      instance_types = ["m6i.large", "m6a.large"]
      min_size       = 3
      max_size       = 12
      desired_size   = 3
    }
  }
}

module "hcloud" {
  source = "../../modules/hcloud-k3s"

  name              = "tasklane-prod-hetzner"
  location          = "fsn1"
  network_zone      = "eu-central"
  server_count      = 3
  agent_count       = 3
  ssh_key_ids       = var.hcloud_ssh_key_ids
  api_allowed_cidrs = var.admin_cidrs
  labels            = local.labels
}

module "ovh" {
  source = "../../modules/ovh-mks"

  service_name      = var.ovh_service_name
  name              = "tasklane-prod-ovh"
  region            = "GRA9"
  api_allowed_cidrs = var.admin_cidrs
  node_pool         = { min = 3, max = 9, desired = 3 }
}

provider "helm" {
  alias = "aws"
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

provider "helm" {
  alias = "hcloud"
  kubernetes = {
    host                   = module.hcloud.api_endpoint
    cluster_ca_certificate = module.hcloud.cluster_ca_certificate
    client_certificate     = module.hcloud.client_certificate
    client_key             = module.hcloud.client_key
  }
}

provider "helm" {
  alias = "ovh"
  kubernetes = {
    host                   = module.ovh.kubeconfig_attributes.host
    cluster_ca_certificate = base64decode(module.ovh.kubeconfig_attributes.cluster_ca_certificate)
    client_certificate     = base64decode(module.ovh.kubeconfig_attributes.client_certificate)
    client_key             = base64decode(module.ovh.kubeconfig_attributes.client_key)
  }
}

module "addons_aws" {
  source                = "../../modules/platform-addons"
  providers             = { helm = helm.aws }
  cluster_name          = "tasklane-prod-aws"
  extra_release_secrets = {}
  cluster_autoscaler_values = [yamlencode({
    cloudProvider = "aws"
    awsRegion     = var.aws_region
    autoDiscovery = { clusterName = module.eks.cluster_name }
    rbac = { serviceAccount = {
      name        = "cluster-autoscaler"
      annotations = { "eks.amazonaws.com/role-arn" = module.eks.cluster_autoscaler_role_arn }
    } }
  })]
}

# k3s ships metrics-server and enforces NetworkPolicy itself; volumes come from
# Hetzner's CSI driver, whose StorageClass hcloud-volumes is the default. The
# nodes are a fixed agent_count (modules/hcloud-k3s/README.md says why).
module "addons_hcloud" {
  source                 = "../../modules/platform-addons"
  providers              = { helm = helm.hcloud }
  cluster_name           = "tasklane-prod-hetzner"
  install_metrics_server = false
  extra_releases = {
    hcloud-csi = {
      repository = "https://charts.hetzner.cloud"
      chart      = "hcloud-csi"
      version    = "2.9.0"
      namespace  = "kube-system"
    }
  }
  extra_release_secrets = {
    hcloud-csi = { "controller.hcloudToken.value" = var.hcloud_csi_token }
  }
}

# OVH's Managed Kubernetes brings the rest: Cinder CSI volumes (default
# StorageClass csi-cinder-high-speed), Canal (Calico enforces NetworkPolicy),
# metrics-server, and the node pool's own autoscaler (modules/ovh-mks).
module "addons_ovh" {
  source                 = "../../modules/platform-addons"
  providers              = { helm = helm.ovh }
  cluster_name           = "tasklane-prod-ovh"
  install_metrics_server = false
  extra_release_secrets  = {}
}
