terraform {
  required_version = "~> 1.15"

  # State in S3, encrypted, locked with S3 conditional writes (use_lockfile): no
  # DynamoDB table needed. The bucket is created once, outside this configuration.
  backend "s3" {
    bucket       = "tasklane-terraform-state"
    key          = "prod/terraform.tfstate"
    region       = "eu-central-1"
    encrypt      = true
    use_lockfile = true
  }

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.0"
    }
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "~> 1.49"
    }
    ovh = {
      source  = "ovh/ovh"
      version = "~> 1.6"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}
