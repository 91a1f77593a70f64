terraform {
  required_version = "~> 1.15"

  required_providers {
    ovh = {
      source  = "ovh/ovh"
      version = "~> 1.6"
    }
  }
}
