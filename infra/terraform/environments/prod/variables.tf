variable "aws_region" {
  type        = string
  description = "AWS region of the EKS cluster."
  default     = "eu-central-1"
  validation {
    condition     = can(regex("^[a-z]{2}-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region code such as eu-central-1."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "Zones of the EKS cluster."
  default     = ["eu-central-1a", "eu-central-1b", "eu-central-1c"]
  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "Give at least two availability zones."
  }
}

variable "admin_cidrs" {
  type        = list(string)
  description = "Egress CIDRs of the CI runners and administrators, allowed to reach the Kubernetes APIs."
  validation {
    condition     = length(var.admin_cidrs) > 0 && alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "admin_cidrs must be non-empty valid CIDRs, never 0.0.0.0/0."
  }
}

variable "hcloud_ssh_key_ids" {
  type        = list(string)
  description = "hcloud SSH keys for break-glass access to the Hetzner nodes."
  validation {
    condition     = length(var.hcloud_ssh_key_ids) > 0
    error_message = "Give at least one SSH key."
  }
}

variable "ovh_service_name" {
  type        = string
  description = "OVHcloud Public Cloud project ID."
  validation {
    condition     = can(regex("^[0-9a-f]{32}$", var.ovh_service_name))
    error_message = "ovh_service_name must be the 32 hex character project ID."
  }
}

variable "github_repository" {
  type        = string
  description = "GitHub repository (owner/name) whose workflows get the deploy and plan roles."
  default     = "tasklane/tasklane"
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "hcloud_csi_token" {
  type        = string
  description = "Hetzner API token for the CSI driver (read and write volumes of the project); TF_VAR_hcloud_csi_token from the production environment's secrets."
  sensitive   = true
  validation {
    condition     = length(var.hcloud_csi_token) == 64
    error_message = "hcloud_csi_token must be a 64 character Hetzner API token."
  }
}
