terraform {
  required_version = "~> 1.15"

  # State in S3, encrypted, locked with S3 conditional writes (use_lockfile): no
  # DynamoDB table needed. The bucket is created once, outside this configuration.
  backend "s3" {
    bucket       = "tasklane-terraform-state"
    key          = "dev/terraform.tfstate"
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
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }
}
